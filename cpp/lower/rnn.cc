// Recurrent layers: nn.GRU and nn.LSTM, converted as whole modules. Their aten
// decomposition (mkldnn_rnn_layer on CPU, or unrolled cells) says nothing about the layer,
// so the bridge hands the module's parameters and attributes to these rules instead
// (python/ferry/core_bridge.py). Each layer becomes one `gru`/`lstm` op over a [B, T, F]
// sequence with Keras-format weights; a bidirectional layer is one op whose backward
// direction comes as a second group of inputs and outputs, as Keras' Bidirectional takes them.
#include <cstring>
#include <string>
#include <vector>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

struct RnnSpec {
  std::string op;  // TF-level op: "gru" or "lstm"
  int64_t gates;   // gate blocks stacked in each weight
  int64_t states;  // state tensors per direction: h (GRU), h and c (LSTM)
  // Keras' gate blocks as indices of PyTorch's. GRU: PyTorch stacks r, z, n, Keras z, r, h.
  // LSTM: both stack i, f, g (c), o.
  std::vector<int64_t> order;
};

const RnnSpec kGru{"gru", 3, 1, {1, 0, 2}};
const RnnSpec kLstm{"lstm", 4, 2, {0, 1, 2, 3}};

// A parameter the bridge passed as a constant argument named after it.
Value* weight(LowerContext& ctx, const std::string& name) {
  Value* v = ctx.in_opt(name);
  if (!v) throw LowerError("the module has no parameter '" + name + "'");
  if (!v->is_constant()) throw LowerError("parameter '" + name + "' is not a constant");
  return v;
}

// PyTorch's [G*H, in] weight as Keras' [in, G*H] kernel, gate blocks in Keras' order. A
// byte copy per element, so it works for any dtype.
std::shared_ptr<TensorData> keras_kernel(const TensorData& w, const RnnSpec& spec) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1], hidden = rows / spec.gates;
  auto out = std::make_shared<TensorData>(w.dtype(), Shape{cols, rows});
  const size_t elem = dtype_size(w.dtype());
  std::byte* dst = out->mutable_bytes();
  for (int64_t g = 0; g < spec.gates; ++g) {
    for (int64_t j = 0; j < hidden; ++j) {
      const int64_t src_row = spec.order[g] * hidden + j, dst_col = g * hidden + j;
      for (int64_t i = 0; i < cols; ++i) {
        std::memcpy(dst + (i * rows + dst_col) * elem, w.bytes() + (src_row * cols + i) * elem,
                    elem);
      }
    }
  }
  return out;
}

// Gate blocks of a [G*H] bias in Keras' order, written at `dst` (a row of a GRU's [2, 3H]).
void reorder_bias(const TensorData& b, const RnnSpec& spec, std::byte* dst) {
  const int64_t hidden = b.size() / spec.gates;
  const size_t block = static_cast<size_t>(hidden) * dtype_size(b.dtype());
  for (int64_t g = 0; g < spec.gates; ++g) {
    std::memcpy(dst + g * block, b.bytes() + spec.order[g] * block, block);
  }
}

template <class T>
void add_into(const TensorData& a, const TensorData& b, TensorData& out) {
  for (int64_t i = 0; i < out.size(); ++i) out.mutable_as<T>()[i] = a.as<T>()[i] + b.as<T>()[i];
}

// Keras' bias for one direction, or nullptr without biases. The GRU keeps input and
// recurrent biases apart ([2, 3H], reset_after=True: the recurrent one sits inside r * (...));
// the LSTM adds them, as both only ever appear summed.
Value* keras_bias(LowerContext& ctx, Value* b_ih, Value* b_hh, const RnnSpec& spec) {
  if (!b_ih || !b_hh) return nullptr;
  const TensorData& ih = *b_ih->constant;
  const TensorData& hh = *b_hh->constant;
  if (spec.op == "gru") {
    auto out = std::make_shared<TensorData>(ih.dtype(), Shape{2, ih.size()});
    reorder_bias(ih, spec, out->mutable_bytes());
    reorder_bias(hh, spec, out->mutable_bytes() + ih.nbytes());
    return ctx.constant(out, Layout::kFixed);
  }
  auto sum = std::make_shared<TensorData>(ih.dtype(), ih.shape());
  if (ih.dtype() == DType::kFloat32) {
    add_into<float>(ih, hh, *sum);
  } else if (ih.dtype() == DType::kFloat64) {
    add_into<double>(ih, hh, *sum);
  } else {
    throw LowerError("LSTM weights of dtype " + std::string(dtype_name(ih.dtype())) +
                     " are not supported (float32 and float64 are)");
  }
  auto out = std::make_shared<TensorData>(ih.dtype(), ih.shape());
  reorder_bias(*sum, spec, out->mutable_bytes());
  return ctx.constant(out, Layout::kFixed);
}

Value* emit_transpose_102(LowerContext& ctx, Value* x) {
  Attrs attrs;
  attrs.set("perm", std::vector<int64_t>{1, 0, 2});
  return ctx.emit("transpose", {x}, std::move(attrs), x->dtype,
                  {x->shape[1], x->shape[0], x->shape[2]}, permuted_sym(*x, {1, 0, 2}));
}

// Entry k of the stacked initial state [L*D, B, H] (or [L*D, H] unbatched) as [B, H].
Value* state_slice(LowerContext& ctx, Value* stacked, int64_t k, int64_t batch, int64_t hidden) {
  const size_t rank = stacked->rank();
  if (stacked->shape[0] == 1) {  // one layer, one direction: the whole tensor
    return rank == 2 ? stacked : emit_reshape(ctx, stacked, {batch, hidden});
  }
  std::vector<int64_t> begin(rank, 0), end = stacked->shape, strides(rank, 1);
  begin[0] = k;
  end[0] = k + 1;
  Attrs attrs;
  attrs.set("begin", begin);
  attrs.set("end", end);
  attrs.set("strides", strides);
  Shape shape = stacked->shape;
  shape[0] = 1;
  Value* s = ctx.emit("slice", {stacked}, std::move(attrs), stacked->dtype, shape);
  return rank == 2 ? s : emit_reshape(ctx, s, {batch, hidden});  // unbatched: [1, H] is [B, H]
}

// Per-direction [B, H] states stacked into PyTorch's [L*D, B, H] ([L*D, H] unbatched).
Value* stack_states(LowerContext& ctx, const std::vector<Value*>& states, bool batched) {
  std::vector<Value*> parts;
  for (Value* s : states) {
    parts.push_back(batched ? emit_reshape(ctx, s, {1, s->shape[0], s->shape[1]}) : s);
  }
  if (parts.size() == 1) return parts[0];
  Shape shape = parts[0]->shape;
  shape[0] = static_cast<int64_t>(parts.size());
  Attrs attrs;
  attrs.set("axis", int64_t{0});
  return ctx.emit("concat", parts, std::move(attrs), parts[0]->dtype, shape);
}

void lower_rnn(LowerContext& ctx, const RnnSpec& spec) {
  const Attrs& a = ctx.attrs();
  if (a.has("proj_size") && a.get_int("proj_size") > 0) {
    throw LowerError("LSTM with proj_size > 0 is not supported");
  }
  if (ctx.ins("input").size() != 1) {
    throw LowerError("a PackedSequence input is not supported; pass a padded tensor");
  }
  const int64_t hidden = a.get_int("hidden_size");
  const int64_t layers = a.get_int("num_layers");
  const bool batch_first = a.get_bool("batch_first");
  const int64_t dirs = a.get_bool("bidirectional") ? 2 : 1;
  const bool has_bias = a.get_bool("bias");

  Value* x = ctx.in("input");
  if (!is_floating(x->dtype)) throw LowerError("the input sequence must be floating point");
  if (x->rank() != 2 && x->rank() != 3) {
    throw LowerError("expected a 2-D or 3-D input, got " + std::to_string(x->rank()) + "-D");
  }
  const bool batched = x->rank() == 3;
  // Keras runs over [B, T, F]; an unbatched [T, F] gets a unit batch.
  if (!batched) {
    const SymDims sym = x->sym.empty() ? SymDims{} : SymDims{-1, x->sym[0], x->sym[1]};
    x = emit_sized_reshape(ctx, x, {1, x->shape[0], x->shape[1]}, sym);
  } else if (!batch_first) {
    x = emit_transpose_102(ctx, x);
  }
  const int64_t batch = x->shape[0], steps = x->shape[1];
  // Free sizes: any number of time steps (the layer's kernel runs over what it is given);
  // the batch and the features stay fixed, since the initial states are sized by the batch.
  const int32_t steps_sym = x->sym.empty() ? -1 : x->sym[1];
  if (!x->sym.empty() && (x->sym[0] >= 0 || x->sym[2] >= 0)) {
    throw LowerError("a recurrent layer takes a free number of time steps, but not a free " +
                     std::string(x->sym[0] >= 0 ? "batch" : "feature size") + " yet");
  }

  std::vector<Value*> hx = ctx.ins("hx");  // GRU: h0; LSTM: (h0, c0); empty for None
  if (!hx.empty() && hx.size() != static_cast<size_t>(spec.states)) {
    throw LowerError("expected " + std::to_string(spec.states) + " initial state tensors, got " +
                     std::to_string(hx.size()));
  }
  const Shape state_shape =
      batched ? Shape{layers * dirs, batch, hidden} : Shape{layers * dirs, hidden};
  for (Value* h : hx) {
    if (h->shape != state_shape)
      throw LowerError("an initial state does not have the shape " + attr_to_string(state_shape));
  }

  std::vector<std::vector<Value*>> final_states(spec.states);  // [state][layer*D + dir]
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<Value*> inputs = {x};
    for (int64_t d = 0; d < dirs; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      for (Value* stacked : hx) {
        inputs.push_back(state_slice(ctx, stacked, l * dirs + d, batch, hidden));
      }
      for (int64_t s = static_cast<int64_t>(hx.size()); s < spec.states; ++s) {
        inputs.push_back(nullptr);  // no initial state: zeros, in Keras as in PyTorch
      }
      Value* w_ih = weight(ctx, "weight_ih" + sfx);
      Value* w_hh = weight(ctx, "weight_hh" + sfx);
      if (w_ih->rank() != 2 || w_ih->shape[0] != spec.gates * hidden ||
          w_hh->shape != Shape{spec.gates * hidden, hidden}) {
        throw LowerError("weights of layer " + std::to_string(l) +
                         " do not have the shapes of hidden_size " + std::to_string(hidden));
      }
      inputs.push_back(ctx.constant(keras_kernel(*w_ih->constant, spec), Layout::kFixed));
      inputs.push_back(ctx.constant(keras_kernel(*w_hh->constant, spec), Layout::kFixed));
      Value* b_ih = has_bias ? weight(ctx, "bias_ih" + sfx) : nullptr;
      Value* b_hh = has_bias ? weight(ctx, "bias_hh" + sfx) : nullptr;
      inputs.push_back(keras_bias(ctx, b_ih, b_hh, spec));
    }

    Attrs attrs;
    attrs.set("units", hidden);
    attrs.set("bidirectional", dirs == 2);
    Node* n = ctx.graph().add_node(spec.op, std::move(inputs), std::move(attrs));
    n->scope = ctx.node().scope;
    n->origin = ctx.node().origin;
    Value* y = ctx.graph().add_value(x->dtype, {batch, steps, dirs * hidden});
    if (steps_sym >= 0) y->sym = {-1, steps_sym, -1};
    ctx.graph().add_output_to(n, y);
    for (int64_t d = 0; d < dirs; ++d) {
      for (int64_t s = 0; s < spec.states; ++s) {
        Value* state = ctx.graph().add_value(x->dtype, {batch, hidden});
        ctx.graph().add_output_to(n, state);
        final_states[s].push_back(state);
      }
    }
    x = y;  // dropout between layers is inactive in eval
  }

  if (!batched) {
    const SymDims sym = steps_sym >= 0 ? SymDims{steps_sym, -1} : SymDims{};
    x = emit_sized_reshape(ctx, x, {steps, dirs * hidden}, sym);
  } else if (!batch_first) {
    x = emit_transpose_102(ctx, x);
  }
  ctx.set_output(0, x);
  // GRU: (output, h_n); LSTM: (output, (h_n, c_n)), flattened by the trace.
  for (int64_t s = 0; s < spec.states && static_cast<size_t>(s + 1) < ctx.num_outputs(); ++s) {
    ctx.set_output(s + 1, stack_states(ctx, final_states[s], batched));
  }
}

}  // namespace

void register_rnn_rules(Registry& registry) {
  registry.add({{"torch.nn.modules.rnn.GRU"},
                [](LowerContext& ctx) { lower_rnn(ctx, kGru); },
                "gru per layer (Keras GRU, Bidirectional when bidirectional)",
                /*free_sizes=*/true});
  registry.add({{"torch.nn.modules.rnn.LSTM"},
                [](LowerContext& ctx) { lower_rnn(ctx, kLstm); },
                "lstm per layer (Keras LSTM, Bidirectional when bidirectional)",
                /*free_sizes=*/true});
}

}  // namespace ferry
