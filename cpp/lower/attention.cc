// Scaled dot-product attention, the masks it takes, and the two calls PyTorch builds those
// masks with (`zeros_like(mask).masked_fill_(mask, -inf)` in F._canonical_mask). The core is
// matmul(q, k, transpose_b) -> add mask -> softmax -> matmul(., v): k's transpose is folded
// into the matmul, so attention itself emits no `transpose` (the head split and merge around
// it are in attention_mha.cc).
#include "lower/attention.h"

#include <cmath>
#include <limits>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Constant masks are combined at conversion time in float32/float64; other types emit ops.
bool foldable(DType dtype) { return dtype == DType::kFloat32 || dtype == DType::kFloat64; }

void write(TensorData& t, int64_t i, double v) {
  if (t.dtype() == DType::kFloat32) {
    t.mutable_as<float>()[i] = static_cast<float>(v);
  } else if (t.dtype() == DType::kFloat64) {
    t.mutable_as<double>()[i] = v;
  } else {
    t.mutable_as<uint8_t>()[i] = v != 0;  // kBool
  }
}

// The flat index into a tensor of shape `in` that broadcasts to element `flat` of `out`.
int64_t broadcast_source(int64_t flat, const Shape& out, const Shape& in) {
  int64_t src = 0;
  int64_t stride = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t axis = out.size() - 1 - i;
    const int64_t index = flat % out[axis];
    flat /= out[axis];
    if (i < in.size()) {
      const int64_t dim = in[in.size() - 1 - i];
      if (dim != 1) src += index * stride;
      stride *= dim;
    }
  }
  return src;
}

}  // namespace

Value* emit_transpose(LowerContext& ctx, Value* x, const std::vector<int64_t>& perm) {
  Shape shape;
  for (int64_t p : perm) shape.push_back(x->shape[p]);
  Attrs attrs;
  attrs.set("perm", perm);
  return ctx.emit("transpose", {x}, std::move(attrs), x->dtype, std::move(shape),
                  permuted_sym(*x, perm));
}

Value* emit_binary(LowerContext& ctx, const std::string& op, Value* a, Value* b) {
  const bool compare = op == "equal" || op == "less" || op == "greater";
  return ctx.emit(op, {a, b}, {}, compare ? DType::kBool : a->dtype,
                  broadcast_shapes(a->shape, b->shape), broadcast_sym(*a, *b));
}

Value* reshape_value(LowerContext& ctx, Value* x, Shape shape) {
  if (x->shape == shape) return x;
  if (x->is_constant()) return ctx.constant(x->constant->reshaped(std::move(shape)));
  return emit_reshape(ctx, x, std::move(shape));
}

Value* emit_scale(LowerContext& ctx, Value* x, double scale) {
  if (scale == 1.0) return x;
  return emit_binary(ctx, "mul", x, typed_scalar(ctx, scale, x->dtype));
}

void ScoreMask::add_float(Value* mask) {
  only_causal_ = false;
  parts_.push_back(cast_to(ctx_, mask, dtype_));
}

void ScoreMask::add_bool(Value* mask, bool true_attends) {
  only_causal_ = false;
  if (mask->is_constant() && foldable(dtype_)) {
    auto bias = std::make_shared<TensorData>(dtype_, mask->shape);
    for (int64_t i = 0; i < bias->size(); ++i) {
      const bool attends = (mask->constant->scalar_at(i) != 0) == true_attends;
      write(*bias, i, attends ? 0.0 : -kInf);
    }
    parts_.push_back(ctx_.constant(std::move(bias)));
    return;
  }
  Value* zero = typed_scalar(ctx_, 0.0, dtype_);
  Value* neg_inf = typed_scalar(ctx_, -kInf, dtype_);
  std::vector<Value*> in = {mask, true_attends ? zero : neg_inf, true_attends ? neg_inf : zero};
  parts_.push_back(ctx_.emit("where", std::move(in), {}, dtype_, mask->shape, mask->sym));
}

void ScoreMask::add(Value* mask, bool bool_true_attends) {
  if (mask->dtype == DType::kBool) {
    add_bool(mask, bool_true_attends);
  } else {
    add_float(mask);
  }
}

void ScoreMask::add_causal(int64_t query_len, int64_t key_len, int32_t query_sym, int32_t key_sym) {
  const bool causal_so_far = only_causal_;
  if (query_sym < 0 && key_sym < 0) {
    auto keep = std::make_shared<TensorData>(DType::kBool, Shape{query_len, key_len});
    for (int64_t i = 0; i < query_len; ++i) {
      for (int64_t j = 0; j < key_len; ++j) write(*keep, i * key_len + j, j <= i);
    }
    add_bool(ctx_.constant(std::move(keep)), true);
  } else {
    // Key position j <= query position i, over run-time positions [L, 1] and [1, S].
    Value* rows = emit_sized_reshape(ctx_, emit_iota(ctx_, query_len, query_sym), {query_len, 1},
                                     {query_sym, -1});
    Value* cols =
        emit_sized_reshape(ctx_, emit_iota(ctx_, key_len, key_sym), {1, key_len}, {-1, key_sym});
    add_bool(ctx_.emit("less_equal", {cols, rows}, {}, DType::kBool, {query_len, key_len},
                       {query_sym, key_sym}),
             true);
  }
  only_causal_ = causal_so_far;
}

Value* ScoreMask::bias() {
  if (combined_) return bias_;
  combined_ = true;
  // Constant parts first, summed at conversion time; then one `add` per computed part. Masks
  // of 0 and -inf add exactly in any order; PyTorch adds two float masks (attn_mask and
  // key_padding_mask) to each other before the scores, as here.
  std::vector<Value*> constants;
  std::vector<Value*> computed;
  for (Value* p : parts_)
    (p->is_constant() && foldable(dtype_) ? constants : computed).push_back(p);
  if (constants.size() > 1) {
    Shape shape;
    for (Value* c : constants) shape = broadcast_shapes(shape, c->shape);
    auto sum = std::make_shared<TensorData>(dtype_, shape);
    for (int64_t i = 0; i < sum->size(); ++i) {
      double v = 0;
      for (Value* c : constants) v += c->constant->scalar_at(broadcast_source(i, shape, c->shape));
      write(*sum, i, v);
    }
    constants = {ctx_.constant(std::move(sum))};
  }
  constants.insert(constants.end(), computed.begin(), computed.end());
  for (Value* p : constants) bias_ = bias_ ? emit_binary(ctx_, "add", bias_, p) : p;
  return bias_;
}

Value* ScoreMask::fully_masked_rows() {
  Value* b = bias();
  if (!b || only_causal_) return nullptr;
  Shape rows = b->shape;
  if (rows.empty()) rows.push_back(1);
  const int64_t keys = rows.back();
  rows.back() = 1;
  if (b->is_constant()) {
    auto masked = std::make_shared<TensorData>(DType::kBool, rows);
    bool any = false;
    for (int64_t r = 0; r < masked->size(); ++r) {
      bool all = true;
      for (int64_t j = 0; j < keys && all; ++j) all = b->constant->scalar_at(r * keys + j) == -kInf;
      write(*masked, r, all);
      any |= all;
    }
    return any ? ctx_.constant(std::move(masked)) : nullptr;
  }
  Attrs attrs;
  attrs.set("axes", std::vector<int64_t>{static_cast<int64_t>(b->rank()) - 1});
  attrs.set("keepdims", true);
  SymDims row_sym = b->sym;
  if (!row_sym.empty()) row_sym.back() = -1;
  Value* row_max = ctx_.emit("max", {b}, std::move(attrs), b->dtype, rows, row_sym);
  return emit_binary(ctx_, "equal", row_max, typed_scalar(ctx_, -kInf, b->dtype));
}

AttentionResult emit_attention(LowerContext& ctx, Value* q, Value* k, Value* v, ScoreMask& mask,
                               bool safe_softmax) {
  if (q->rank() < 2 || k->rank() < 2 || v->rank() < 2) {
    throw LowerError("attention expects query, key and value of at least 2 dims");
  }
  const Shape qb(q->shape.begin(), q->shape.end() - 2);
  const Shape kb(k->shape.begin(), k->shape.end() - 2);
  const Shape vb(v->shape.begin(), v->shape.end() - 2);
  const int64_t L = q->shape[q->rank() - 2];
  const int64_t S = k->shape[k->rank() - 2];
  if (q->shape.back() != k->shape.back() || v->shape[v->rank() - 2] != S) {
    throw LowerError("attention: query, key and value sizes do not match");
  }
  AttentionResult r;
  Shape scores_shape = broadcast_shapes(qb, kb);
  scores_shape.push_back(L);
  scores_shape.push_back(S);
  Attrs mm;
  mm.set("transpose_a", false);
  mm.set("transpose_b", true);
  // Free sizes: the batch dims broadcast, then query length by key length.
  auto batch_sym = [](const Value& x) {
    return x.sym.empty() ? SymDims{} : SymDims(x.sym.begin(), x.sym.end() - 2);
  };
  auto row_sym = [](const Value& x) { return x.sym.empty() ? -1 : x.sym[x.rank() - 2]; };
  SymDims scores_sym = broadcast_sym(batch_sym(*q), qb.size(), batch_sym(*k), kb.size());
  if (scores_sym.empty()) scores_sym.assign(scores_shape.size() - 2, -1);
  scores_sym.push_back(row_sym(*q));
  scores_sym.push_back(row_sym(*k));
  r.scores = ctx.emit("matmul", {q, k}, std::move(mm), q->dtype, scores_shape, scores_sym);
  if (Value* b = mask.bias()) r.scores = emit_binary(ctx, "add", r.scores, b);
  Attrs sm;
  sm.set("axis", static_cast<int64_t>(r.scores->rank()) - 1);
  r.weights =
      ctx.emit("softmax", {r.scores}, std::move(sm), q->dtype, r.scores->shape, r.scores->sym);
  if (safe_softmax && (r.fully_masked = mask.fully_masked_rows())) {
    Value* zero = typed_scalar(ctx, 0.0, q->dtype);
    r.weights = ctx.emit("where", {r.fully_masked, zero, r.weights}, {}, q->dtype,
                         broadcast_shapes(r.fully_masked->shape, r.weights->shape),
                         broadcast_sym(*r.fully_masked, *r.weights));
  }
  Shape out_shape(r.weights->shape.begin(), r.weights->shape.end() - 2);
  out_shape = broadcast_shapes(out_shape, vb);
  out_shape.push_back(L);
  out_shape.push_back(v->shape.back());
  Attrs mm2;
  mm2.set("transpose_a", false);
  mm2.set("transpose_b", false);
  SymDims out_sym;
  if (!r.weights->sym.empty()) {
    out_sym.assign(r.weights->sym.begin(), r.weights->sym.end() - 1);
    out_sym.push_back(v->sym.empty() ? -1 : v->sym.back());
  }
  r.output = ctx.emit("matmul", {r.weights, v}, std::move(mm2), q->dtype, out_shape, out_sym);
  return r;
}

namespace {

// [..., H, S, D] -> [..., H * groups, S, D], each head repeated `groups` times in a row:
// a reshape, a broadcast over a new unit dim and a reshape, never a gather.
Value* repeat_heads(LowerContext& ctx, Value* x, int64_t groups) {
  const size_t r = x->rank();
  Shape unit = x->shape;
  unit.insert(unit.begin() + static_cast<int64_t>(r) - 2, 1);
  Shape wide = unit;
  wide[r - 2] = groups;
  Shape out = x->shape;
  out[r - 3] *= groups;
  Attrs attrs;
  attrs.set("shape", wide);
  Value* b =
      ctx.emit("broadcast_to", {emit_reshape(ctx, x, unit)}, std::move(attrs), x->dtype, wide);
  return emit_reshape(ctx, b, out);
}

// F.scaled_dot_product_attention and its aten forms. `with_logsumexp`: the CPU flash kernel
// also returns logsumexp of the scores per query [..., L] (0 for a fully masked row); it is
// emitted for completeness and removed as dead code when nothing reads it.
void lower_sdpa(LowerContext& ctx, bool with_logsumexp) {
  const Attrs& a = ctx.attrs();
  Value* q = ctx.in("query");
  Value* k = ctx.in("key");
  Value* v = ctx.in("value");
  if (a.has("dropout_p") && a.get_float("dropout_p") > 0) {
    // The functional form applies dropout whatever the module's training flag.
    throw LowerError("scaled_dot_product_attention with dropout_p > 0 is random; pass 0");
  }
  if (q->rank() >= 3 && k->rank() >= 3 && q->shape[q->rank() - 3] != k->shape[k->rank() - 3] &&
      a.has("enable_gqa") && a.get_bool("enable_gqa")) {
    // Grouped query heads: each key/value head serves `groups` consecutive query heads, as
    // PyTorch's repeat_interleave over dim -3 does.
    const int64_t hq = q->shape[q->rank() - 3], hkv = k->shape[k->rank() - 3];
    if (hkv <= 0 || hq % hkv != 0) {
      throw LowerError("enable_gqa needs the query heads to be a multiple of the key heads");
    }
    k = repeat_heads(ctx, k, hq / hkv);
    v = repeat_heads(ctx, v, hq / hkv);
  }
  const double scale = a.has("scale") && !a.is_none("scale")
                           ? a.get_float("scale")
                           : 1.0 / std::sqrt(static_cast<double>(q->shape.back()));
  ScoreMask mask(ctx, q->dtype);
  if (Value* m = ctx.in_opt("attn_mask")) mask.add(m, true);
  if (a.has("is_causal") && a.get_bool("is_causal")) {
    auto length_sym = [](const Value& x) { return x.sym.empty() ? -1 : x.sym[x.rank() - 2]; };
    mask.add_causal(q->shape[q->rank() - 2], k->shape[k->rank() - 2], length_sym(*q),
                    length_sym(*k));
  }
  // Scaling q costs L*d multiplications rather than the scores' L*S.
  AttentionResult r = emit_attention(ctx, emit_scale(ctx, q, scale), k, v, mask, true);
  set_output_reshaped(ctx, r.output, 0);
  if (!with_logsumexp || ctx.num_outputs() < 2) return;
  const int64_t last = static_cast<int64_t>(r.scores->rank()) - 1;
  Attrs keep;
  keep.set("axes", std::vector<int64_t>{last});
  keep.set("keepdims", true);
  Shape rows = r.scores->shape;
  rows.back() = 1;
  Value* m = ctx.emit("max", {r.scores}, keep, q->dtype, rows);
  Value* e = ctx.emit("exp", {emit_binary(ctx, "sub", r.scores, m)}, {}, q->dtype, r.scores->shape);
  Value* s = ctx.emit("sum", {e}, keep, q->dtype, rows);
  Value* lse = emit_binary(ctx, "add", ctx.emit("log", {s}, {}, q->dtype, rows), m);
  if (r.fully_masked) {
    lse = ctx.emit("where", {r.fully_masked, typed_scalar(ctx, 0.0, q->dtype), lse}, {}, q->dtype,
                   broadcast_shapes(r.fully_masked->shape, lse->shape));
  }
  ctx.set_output(1, cast_to(ctx, reshape_value(ctx, lse, ctx.torch_output(1).shape),
                            ctx.torch_output(1).dtype));
}

void lower_zeros_like(LowerContext& ctx) {
  const Value& out = ctx.torch_output();
  if (has_free_dims(out.sym)) {
    // Free sizes: zeros of the run-time shape (FILL takes float32, int32 and int64).
    const DType fill =
        out.dtype == DType::kInt32 || out.dtype == DType::kInt64 ? out.dtype : DType::kFloat32;
    ctx.set_output(0, cast_to(ctx, emit_fill(ctx, typed_scalar(ctx, 0.0, fill), out.shape, out.sym),
                              out.dtype));
    return;
  }
  // A fresh buffer is zero bytes, which is zero in every dtype.
  ctx.set_output(0, ctx.constant(std::make_shared<TensorData>(out.dtype, out.shape)));
}

// where(mask, value, x). Folded at conversion time when x and mask are constants, so a fixed
// attn_mask stays a constant through F._canonical_mask (and attention knows its rows).
void lower_masked_fill(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  Value* mask = ctx.in("mask");
  const Value& out = ctx.torch_output();
  if (broadcast_shapes(x->shape, mask->shape) != out.shape) {
    throw LowerError("masked_fill: the mask does not broadcast to the input's shape");
  }
  Value* value = ctx.in_opt("value");
  if (!value && x->is_constant() && mask->is_constant() && foldable(out.dtype) &&
      x->dtype == out.dtype) {
    const double fill = ctx.attrs().get_float("value");
    auto data = std::make_shared<TensorData>(out.dtype, out.shape);
    for (int64_t i = 0; i < data->size(); ++i) {
      const bool set = mask->constant->scalar_at(broadcast_source(i, out.shape, mask->shape)) != 0;
      write(*data, i, set ? fill : x->constant->scalar_at(i));
    }
    ctx.set_output(0, ctx.constant(std::move(data)));
    return;
  }
  value = value ? cast_to(ctx, value, out.dtype)
                : typed_scalar(ctx, ctx.attrs().get_float("value"), out.dtype);
  ctx.emit_output("where", {mask, value, cast_to(ctx, x, out.dtype)});
}

}  // namespace

void register_attention_rules(Registry& registry) {
  registry.add({{"torch.nn.functional.scaled_dot_product_attention",
                 "aten.scaled_dot_product_attention.default"},
                [](LowerContext& ctx) { lower_sdpa(ctx, false); },
                "mul + matmul(transpose_b) + add/where mask + softmax + matmul",
                /*free_sizes=*/true});
  registry.add({{"aten._scaled_dot_product_flash_attention_for_cpu.default"},
                [](LowerContext& ctx) { lower_sdpa(ctx, true); },
                "mul + matmul(transpose_b) + add/where mask + softmax + matmul (+ logsumexp)"});
  registry.add({{"torch.zeros_like", "aten.zeros_like.default"},
                lower_zeros_like,
                "constant; at free sizes fill",
                /*free_sizes=*/true});
  registry.add({{"torch.masked_fill", "torch.Tensor.masked_fill", "torch.Tensor.masked_fill_",
                 "aten.masked_fill.Scalar", "aten.masked_fill.Tensor", "aten.masked_fill_.Scalar",
                 "aten.masked_fill_.Tensor"},
                lower_masked_fill,
                "where (folded for constants)",
                /*free_sizes=*/true});
  register_mha_rules(registry);
}

}  // namespace ferry
