// Emitters for embeddings and recurrent layers (docs/tf_ops.md -> TFLite builtins).
//
// `gru` (and `lstm` on request) is unrolled over its static sequence length into plain
// float32 ops (docs/tflite.md "Recurrent layers" compares the forms): one FULLY_CONNECTED
// projects every step's input at once, then each step slices its projection, adds the
// recurrent FULLY_CONNECTED of the previous state and applies the gates with SPLIT, LOGISTIC,
// TANH and ADD/SUB/MUL. The graph is stateless, so every invoke() starts from the given h0/c0
// (or zeros), and the final states are ordinary tensors. Versions are the lowest that express
// what is used: GATHER 1 (a float32 table; int32 and int64 indices alike), SPLIT 1,
// FULLY_CONNECTED 1 (always with a bias: without one it would need version 6), the rest 1.
//
// The sequence form (WriteOptions::recurrent, the default) writes each LSTM direction as one
// UNIDIRECTIONAL_SEQUENCE_LSTM (version 1: float32, no layer norm, no peepholes). Its h and c
// are variable tensors the kernel starts from and overwrites, which the interpreter keeps
// across invoke() calls; an op in front of it rewrites them on every invoke (FILL with zeros,
// or a copy of the given h0/c0), so the file stays stateless.
#include <algorithm>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

namespace {

// Float32 operators on one layer's tensors, named under its scope. Each returns its output:
// `into` when given, else a new tensor of `shape` named `name`.
class Ops {
 public:
  Ops(ModelBuilder& m, std::string scope) : m_(m), scope_(std::move(scope)) {}

  int tensor(const Shape& shape, const std::string& name) {
    return m_.add_tensor(fb::TensorType_FLOAT32, shape, scope_ + "/" + name);
  }

  int constant(const std::vector<float>& v, const Shape& shape, const std::string& name) {
    return m_.add_constant(fb::TensorType_FLOAT32, shape, v.data(), v.size() * sizeof(float),
                           scope_ + "/" + name);
  }

  // Rows of `x` (all axes but the last flattened) times weights [Out, In], plus bias [Out].
  int fully_connected(int x, int weights, int bias, const Shape& shape, const std::string& name) {
    int out = tensor(shape, name);
    m_.add_op(fb::BuiltinOperator_FULLY_CONNECTED, 1, {x, weights, bias}, {out},
              fb::BuiltinOptions_FullyConnectedOptions,
              fb::CreateFullyConnectedOptions(m_.fbb()).Union());
    return out;
  }

  int binary(fb::BuiltinOperator code, int a, int b, const Shape& shape, const std::string& name,
             int into = -1) {
    int out = into >= 0 ? into : tensor(shape, name);
    auto& f = m_.fbb();
    switch (code) {
      case fb::BuiltinOperator_ADD:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_AddOptions,
                  fb::CreateAddOptions(f).Union());
        break;
      case fb::BuiltinOperator_SUB:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_SubOptions,
                  fb::CreateSubOptions(f).Union());
        break;
      default:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_MulOptions,
                  fb::CreateMulOptions(f).Union());
    }
    return out;
  }

  int unary(fb::BuiltinOperator code, int x, const Shape& shape, const std::string& name) {
    int out = tensor(shape, name);
    m_.add_op(code, 1, {x}, {out});
    return out;
  }

  // Equal parts of the last axis of a [B, N] tensor.
  std::vector<int> split(int x, const Shape& part, const std::vector<std::string>& names) {
    std::vector<int> outs;
    for (const std::string& name : names) outs.push_back(tensor(part, name));
    int axis = m_.add_int32({1}, {}, scope_ + "/split_axis");
    m_.add_op(fb::BuiltinOperator_SPLIT, 1, {axis, x}, to_vector(outs),
              fb::BuiltinOptions_SplitOptions,
              fb::CreateSplitOptions(m_.fbb(), static_cast<int32_t>(outs.size())).Union());
    return outs;
  }

  // Columns [begin, end) of a [rows, N] tensor.
  int columns(int x, int64_t rows, int64_t begin, int64_t end, const std::string& name) {
    int out = tensor({rows, end - begin}, name);
    auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };
    m_.add_op(fb::BuiltinOperator_STRIDED_SLICE, 1,
              {x, m_.add_int32({0, i32(begin)}, {2}, scope_ + "/begin"),
               m_.add_int32({i32(rows), i32(end)}, {2}, scope_ + "/end"),
               m_.add_int32({1, 1}, {2}, scope_ + "/strides")},
              {out}, fb::BuiltinOptions_StridedSliceOptions,
              fb::CreateStridedSliceOptions(m_.fbb()).Union());
    return out;
  }

  // [rows, widths[i]] parts side by side into `out`. XNNPACK delegates CONCATENATION of at
  // most 5 inputs, so more are joined as a tree of such: a few extra copies of the sequence,
  // against a delegate partition boundary at every longer one.
  void concat(std::vector<int> parts, std::vector<int64_t> widths, int64_t rows, int out,
              const std::string& name) {
    constexpr size_t kMaxInputs = 5;
    auto join = [&](const std::vector<int>& in, int dst) {
      m_.add_op(fb::BuiltinOperator_CONCATENATION, 1, to_vector(in), {dst},
                fb::BuiltinOptions_ConcatenationOptions,
                fb::CreateConcatenationOptions(m_.fbb(), 1).Union());
    };
    for (int level = 0; parts.size() > kMaxInputs; ++level) {
      std::vector<int> next;
      std::vector<int64_t> next_widths;
      for (size_t i = 0; i < parts.size(); i += kMaxInputs) {
        const size_t end = std::min(parts.size(), i + kMaxInputs);
        int64_t width = 0;
        for (size_t j = i; j < end; ++j) width += widths[j];
        int joined = parts[i];
        if (end - i > 1) {
          joined = tensor({rows, width}, name + "_" + std::to_string(level) + "_" +
                                             std::to_string(i / kMaxInputs));
          join(std::vector<int>(parts.begin() + i, parts.begin() + end), joined);
        }
        next.push_back(joined);
        next_widths.push_back(width);
      }
      parts.swap(next);
      widths.swap(next_widths);
    }
    join(parts, out);
  }

  void reshape(int x, const Shape& shape, int out) {
    std::vector<int32_t> dims(shape.begin(), shape.end());
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {x, m_.add_int32(dims, {static_cast<int64_t>(dims.size())}, scope_ + "/shape")},
              {out});
  }

 private:
  static std::vector<int32_t> to_vector(const std::vector<int>& v) {
    return std::vector<int32_t>(v.begin(), v.end());
  }

  ModelBuilder& m_;
  std::string scope_;
};

// One direction's weights as FULLY_CONNECTED operands, and the step functions. Gate blocks are
// in Keras' order (LSTM i, f, c, o; GRU z, r, h). A state of -1 is zeros: the first step then
// skips the recurrent product instead of multiplying zeros.
struct Cell {
  Ops& ops;
  int64_t batch, hidden;
  int recurrent_weights, recurrent_bias;
  int reset_bias = -1;  // GRU: the recurrent bias of the h block, [H], or -1 without biases

  Shape state() const { return {batch, hidden}; }

  int recurrent(int h, int64_t gates, const std::string& s) {
    return ops.fully_connected(h, recurrent_weights, recurrent_bias, {batch, gates * hidden},
                               s + "recurrent");
  }

  // gates = xw + h·U; c' = sigmoid(f)·c + sigmoid(i)·tanh(g); h' = sigmoid(o)·tanh(c').
  void lstm(int xw, int h, int c, int h_out, int c_out, const std::string& s) {
    const Shape bh = state(), bg{batch, 4 * hidden};
    int gates =
        h < 0 ? xw : ops.binary(fb::BuiltinOperator_ADD, xw, recurrent(h, 4, s), bg, s + "gates");
    auto g = ops.split(gates, bh, {s + "i_in", s + "f_in", s + "g_in", s + "o_in"});
    int i = ops.unary(fb::BuiltinOperator_LOGISTIC, g[0], bh, s + "i");
    int cand = ops.unary(fb::BuiltinOperator_TANH, g[2], bh, s + "g");
    int o = ops.unary(fb::BuiltinOperator_LOGISTIC, g[3], bh, s + "o");
    int ig = ops.binary(fb::BuiltinOperator_MUL, i, cand, bh, s + "i_g", c < 0 ? c_out : -1);
    if (c >= 0) {
      int f = ops.unary(fb::BuiltinOperator_LOGISTIC, g[1], bh, s + "f");
      int fc = ops.binary(fb::BuiltinOperator_MUL, f, c, bh, s + "f_c");
      ops.binary(fb::BuiltinOperator_ADD, fc, ig, bh, "", c_out);
    }
    int tc = ops.unary(fb::BuiltinOperator_TANH, c_out, bh, s + "tanh_c");
    ops.binary(fb::BuiltinOperator_MUL, o, tc, bh, "", h_out);
  }

  // Keras GRU with reset_after (PyTorch's GRU): z = sigmoid(xz + hz), r = sigmoid(xr + hr),
  // n = tanh(xh + r·(h·U_h + b_h)), h' = n + z·(h - n). The z and r recurrent biases are
  // folded into the input projection's.
  void gru(int xw, int h, int h_out, const std::string& s) {
    const Shape bh = state();
    auto x = ops.split(xw, bh, {s + "xz", s + "xr", s + "xh"});
    if (h >= 0) {
      auto r_in = ops.split(recurrent(h, 3, s), bh, {s + "hz", s + "hr", s + "hh"});
      int z = ops.unary(fb::BuiltinOperator_LOGISTIC,
                        ops.binary(fb::BuiltinOperator_ADD, x[0], r_in[0], bh, s + "z_in"), bh,
                        s + "z");
      int r = ops.unary(fb::BuiltinOperator_LOGISTIC,
                        ops.binary(fb::BuiltinOperator_ADD, x[1], r_in[1], bh, s + "r_in"), bh,
                        s + "r");
      int rh = ops.binary(fb::BuiltinOperator_MUL, r, r_in[2], bh, s + "r_hh");
      int n = ops.unary(fb::BuiltinOperator_TANH,
                        ops.binary(fb::BuiltinOperator_ADD, x[2], rh, bh, s + "n_in"), bh, s + "n");
      int d = ops.binary(fb::BuiltinOperator_SUB, h, n, bh, s + "h_minus_n");
      int zd = ops.binary(fb::BuiltinOperator_MUL, z, d, bh, s + "z_d");
      ops.binary(fb::BuiltinOperator_ADD, n, zd, bh, "", h_out);
      return;
    }
    // h = 0: h·U_h + b_h is the bias alone, and h' = n - z·n.
    int z = ops.unary(fb::BuiltinOperator_LOGISTIC, x[0], bh, s + "z");
    int pre = x[2];
    if (reset_bias >= 0) {
      int r = ops.unary(fb::BuiltinOperator_LOGISTIC, x[1], bh, s + "r");
      int rb = ops.binary(fb::BuiltinOperator_MUL, r, reset_bias, bh, s + "r_hh");
      pre = ops.binary(fb::BuiltinOperator_ADD, x[2], rb, bh, s + "n_in");
    }
    int n = ops.unary(fb::BuiltinOperator_TANH, pre, bh, s + "n");
    int zn = ops.binary(fb::BuiltinOperator_MUL, z, n, bh, s + "z_n");
    ops.binary(fb::BuiltinOperator_SUB, n, zn, bh, "", h_out);
  }
};

// Keras' [rows, cols] kernel as FULLY_CONNECTED's [cols, rows] weights.
std::vector<float> transposed(const std::vector<float>& k, int64_t rows, int64_t cols) {
  std::vector<float> w(k.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[c * rows + r] = k[r * cols + c];
  return w;
}

}  // namespace

void Writer::emit_embedding(const Node* n) {
  const Value *indices = n->inputs[0], *table = n->inputs[1];
  if (indices->dtype != DType::kInt32 && indices->dtype != DType::kInt64)
    fail(n, "embedding indices must be int32 or int64");
  if (table->dtype != DType::kFloat32 || table->rank() != 2)
    fail(n, "the embedding table must be a float32 [V, D] tensor");
  m_.add_op(fb::BuiltinOperator_GATHER, 1, {tensor(table), tensor(indices)},
            {tensor(n->outputs[0])}, fb::BuiltinOptions_GatherOptions,
            fb::CreateGatherOptions(m_.fbb(), 0).Union());
}

void Writer::emit_recurrent(const Node* n) {
  const bool lstm = n->op == "lstm";
  const int64_t gates = lstm ? 4 : 3, states = lstm ? 2 : 1, group = states + 3;
  const int64_t dirs = n->attrs.get_bool("bidirectional") ? 2 : 1;
  const int64_t hidden = n->attrs.get_int("units"), gh = gates * hidden;
  const Value* x = n->inputs[0];
  if (x->dtype != DType::kFloat32) fail(n, "only float32 sequences are supported");
  if (x->rank() != 3) fail(n, "the sequence must be [batch, time, features]");
  if (n->inputs.size() != static_cast<size_t>(1 + dirs * group) ||
      n->outputs.size() != static_cast<size_t>(1 + dirs * states))
    fail(n, "unexpected number of inputs or outputs");
  const Shape xs = x->physical_shape();
  const int64_t batch = xs[0], steps = xs[1], features = xs[2];
  if (steps < 1) fail(n, "an empty sequence");
  const Shape bh{batch, hidden};
  for (int64_t d = 0; d < dirs; ++d) {
    const size_t base = static_cast<size_t>(1 + d * group);
    const Value *h0 = n->inputs[base], *c0 = lstm ? n->inputs[base + 1] : nullptr;
    const Value *kernel = n->inputs[base + states], *rec = n->inputs[base + states + 1],
                *bias = n->inputs[base + states + 2];
    for (const Value* s : {h0, c0})
      if (s && (s->dtype != DType::kFloat32 || s->physical_shape() != bh))
        fail(n, "an initial state must be float32 [batch, units]");
    if (!kernel || kernel->physical_shape() != Shape{features, gh} || !rec ||
        rec->physical_shape() != Shape{hidden, gh})
      fail(n, "the kernels do not have the shapes of the sequence and units");
    const Shape bias_shape = lstm ? Shape{gh} : Shape{2, gh};
    if (bias && bias->physical_shape() != bias_shape)
      fail(n, "the bias does not have the shape of the units");
  }
  const std::string name = layer_name(n);
  // Free sizes: a free number of time steps cannot be unrolled; only the LSTM builtin runs
  // over whatever length it is given.
  const bool free_steps = has_free_dims(x->sym);
  if (free_steps) {
    if (!lstm)
      fail(n,
           "a GRU over a free number of time steps: TFLite has no GRU builtin, and an "
           "unrolled GRU has a fixed length; make the sequence length static");
    if (options_.recurrent != RecurrentForm::kSequence)
      fail(n, "recurrent=\"unrolled\" cannot run over a free number of time steps");
    const std::string why = sequence_refusal(n);
    if (!why.empty())
      fail(n, name +
                  " over a free number of time steps needs UNIDIRECTIONAL_SEQUENCE_LSTM, "
                  "but " +
                  why);
  }
  if (lstm && options_.recurrent == RecurrentForm::kSequence) {
    const std::string why = sequence_refusal(n);
    if (why.empty()) return emit_lstm_sequence(n);
    warnings_.push_back(name + " is written unrolled, not as UNIDIRECTIONAL_SEQUENCE_LSTM: " + why +
                        " (recurrent=\"unrolled\" writes every layer so)");
  }

  Ops ops(m_, n->scope.empty() ? n->op : n->scope);
  const int seq = tensor(x);
  std::vector<std::vector<int>> h_at(dirs, std::vector<int>(steps));  // [direction][time]
  for (int64_t d = 0; d < dirs; ++d) {
    const size_t base = static_cast<size_t>(1 + d * group);
    const Value *h0 = n->inputs[base], *c0 = lstm ? n->inputs[base + 1] : nullptr;
    const Value *kernel = n->inputs[base + states], *rec = n->inputs[base + states + 1],
                *bias = n->inputs[base + states + 2];

    std::vector<float> in_bias(gh, 0.0f), rec_bias(gh, 0.0f);
    if (bias) {
      std::vector<float> b = float_data(n, bias, "the bias");
      if (lstm) {
        in_bias = b;  // already b_ih + b_hh
      } else {
        // Row 0 input, row 1 recurrent: the z and r recurrent biases only ever add to the
        // input's, the h block's is scaled by r and stays in the recurrent product.
        for (int64_t j = 0; j < gh; ++j) {
          in_bias[j] = b[j] + (j < 2 * hidden ? b[gh + j] : 0.0f);
          if (j >= 2 * hidden) rec_bias[j] = b[gh + j];
        }
      }
    }
    const std::string p = dirs == 1 ? "" : d == 0 ? "forward/" : "backward/";
    const int in_w = ops.constant(transposed(float_data(n, kernel, "the kernel"), features, gh),
                                  {gh, features}, p + "input_weights");
    const int in_b = ops.constant(in_bias, {gh}, p + "input_bias");
    Cell cell{ops, batch, hidden,
              ops.constant(transposed(float_data(n, rec, "the recurrent kernel"), hidden, gh),
                           {gh, hidden}, p + "recurrent_weights"),
              ops.constant(rec_bias, {gh}, p + "recurrent_bias")};
    if (!lstm && bias) {
      cell.reset_bias =
          ops.constant(std::vector<float>(rec_bias.begin() + 2 * hidden, rec_bias.end()), {hidden},
                       p + "recurrent_bias_h");
    }

    // Every step's input projection at once: rows b*T + t of [B*T, G*H], viewed as
    // [B, T*G*H] so that a step is a contiguous column range.
    int proj = ops.fully_connected(seq, in_w, in_b, {batch * steps, gh}, p + "input_proj");
    if (steps > 1) {
      int flat = ops.tensor({batch, steps * gh}, p + "input_proj_by_batch");
      ops.reshape(proj, {batch, steps * gh}, flat);
      proj = flat;
    }
    int h = h0 ? tensor(h0) : -1, c = c0 ? tensor(c0) : -1;
    for (int64_t k = 0; k < steps; ++k) {
      const int64_t t = d == 0 ? k : steps - 1 - k;  // backward reads the sequence reversed
      const bool last = k == steps - 1;
      const std::string s = p + "t" + std::to_string(t) + "/";
      int xw = steps > 1 ? ops.columns(proj, batch, t * gh, (t + 1) * gh, s + "input_proj") : proj;
      // The last step writes the node's final-state outputs directly.
      int h_out = last ? tensor(n->outputs[1 + d * states]) : ops.tensor(bh, s + "h");
      if (lstm) {
        int c_out = last ? tensor(n->outputs[2 + d * states]) : ops.tensor(bh, s + "c");
        cell.lstm(xw, h, c, h_out, c_out, s);
        c = c_out;
      } else {
        cell.gru(xw, h, h_out, s);
      }
      h = h_at[d][t] = h_out;
    }
  }

  // y[b, t] = (forward h_t, backward h_t): one concatenation in time order, then [B, T, D*H].
  std::vector<int> parts;
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t d = 0; d < dirs; ++d) parts.push_back(h_at[d][t]);
  const Shape ys{batch, steps, dirs * hidden};
  int y = tensor(n->outputs[0]);
  if (parts.size() == 1) return ops.reshape(parts[0], ys, y);
  int joined = ops.tensor({batch, steps * dirs * hidden}, "sequence");
  ops.concat(parts, std::vector<int64_t>(parts.size(), hidden), batch, joined, "sequence");
  ops.reshape(joined, ys, y);
}

}  // namespace ferry::tflite::detail

namespace ferry::tflite::detail {

std::string Writer::layer_name(const Node* n) {
  if (auto it = rnn_names_.find(n); it != rnn_names_.end()) return it->second;
  const std::string kind = n->op == "lstm" ? "LSTM" : "GRU";
  const int64_t layer = rnn_layers_[n->op + "/" + n->scope]++;
  std::string name =
      kind + " '" + (n->scope.empty() ? "<root>" : n->scope) + "' layer " + std::to_string(layer);
  rnn_names_[n] = name;
  return name;
}

std::string Writer::sequence_refusal(const Node* n) const {
  const int64_t dirs = n->attrs.get_bool("bidirectional") ? 2 : 1;
  for (int64_t d = 0; d < dirs; ++d) {
    // Outputs: y, then h_n, c_n per direction. h_n is the sequence's last (forward) or first
    // (backward) step; c_n has no counterpart among the builtin's outputs.
    if (is_read(n->outputs[static_cast<size_t>(2 + d * 2)]))
      return std::string("the model reads its final cell state c_n") +
             (dirs == 2 ? d == 0 ? " (forward)" : " (backward)" : "") +
             ", which the builtin does not output";
  }
  return "";
}

void Writer::emit_lstm_sequence(const Node* n) {
  const int64_t dirs = n->attrs.get_bool("bidirectional") ? 2 : 1;
  const int64_t hidden = n->attrs.get_int("units"), gh = 4 * hidden;
  const Value* x = n->inputs[0];
  const Shape xs = x->physical_shape();
  const int64_t batch = xs[0], steps = xs[1], features = xs[2];
  const Shape bh{batch, hidden}, bth{batch, steps, hidden};
  Ops ops(m_, n->scope.empty() ? n->op : n->scope);
  auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };

  const int seq = tensor(x);
  // Free sizes: the time steps are free; the sequences between the ops say so too.
  const bool free_steps = has_free_dims(x->sym);
  auto sequence = [&](const Shape& shape, const std::string& name) {
    const int t = ops.tensor(shape, name);
    if (free_steps) m_.set_signature(t, {i32(shape[0]), -1, i32(shape[2])});
    return t;
  };
  const int time_axis = m_.add_int32({1}, {1}, "time_axis");
  auto reverse_time = [&](int in, int out) {
    m_.add_op(fb::BuiltinOperator_REVERSE_V2, 1, {in, time_axis}, {out});
  };
  std::vector<int> y_dir;  // each direction's [B, T, H] in time order
  for (int64_t d = 0; d < dirs; ++d) {
    const size_t base = static_cast<size_t>(1 + d * 5);
    const Value *h0 = n->inputs[base], *c0 = n->inputs[base + 1], *bias = n->inputs[base + 4];
    const std::string p = dirs == 1 ? "" : d == 0 ? "forward/" : "backward/";

    // Per-gate weights [H, F] and [H, H], rows of the transposed Keras kernels (gate blocks
    // i, f, c, o: the builtin's input order too).
    const std::vector<float> in_w =
        transposed(float_data(n, n->inputs[base + 2], "the kernel"), features, gh);
    const std::vector<float> rec_w =
        transposed(float_data(n, n->inputs[base + 3], "the recurrent kernel"), hidden, gh);
    const std::vector<float> b =
        bias ? float_data(n, bias, "the bias") : std::vector<float>(gh, 0.0f);
    static const char* kGate[] = {"input", "forget", "cell", "output"};
    std::vector<int32_t> in_gates, rec_gates, biases;
    for (int64_t g = 0; g < 4; ++g) {
      const std::string gate = p + kGate[g];
      in_gates.push_back(
          ops.constant(std::vector<float>(in_w.begin() + g * hidden * features,
                                          in_w.begin() + (g + 1) * hidden * features),
                       {hidden, features}, gate + "_input_weights"));
      rec_gates.push_back(
          ops.constant(std::vector<float>(rec_w.begin() + g * hidden * hidden,
                                          rec_w.begin() + (g + 1) * hidden * hidden),
                       {hidden, hidden}, gate + "_recurrent_weights"));
      biases.push_back(
          ops.constant(std::vector<float>(b.begin() + g * hidden, b.begin() + (g + 1) * hidden),
                       {hidden}, gate + "_bias"));
    }

    // The kernel's state: rewritten before it runs on every invoke, never carried over.
    const std::string scope = n->scope.empty() ? n->op : n->scope;
    int state[2];
    const Value* initial[2] = {h0, c0};
    for (int k = 0; k < 2; ++k) {
      const std::string what = p + (k == 0 ? "h_state" : "c_state");
      state[k] = m_.add_variable(fb::TensorType_FLOAT32, bh, scope + "/" + what);
      if (initial[k]) {
        // x * 1 is x bit for bit (NaN and -0 included): a copy into the variable tensor.
        m_.add_op(fb::BuiltinOperator_MUL, 1,
                  {tensor(initial[k]), m_.add_float_scalar(1.0f, "one")}, {state[k]},
                  fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(m_.fbb()).Union());
      } else {
        m_.add_op(fb::BuiltinOperator_FILL, 1,
                  {m_.add_int32({i32(batch), i32(hidden)}, {2}, scope + "/state_shape"),
                   m_.add_float_scalar(0.0f, "zero")},
                  {state[k]});
      }
    }

    int in = seq;
    if (d == 1) {
      in = sequence(xs, p + "reversed_input");
      reverse_time(seq, in);
    }
    const Value* y = n->outputs[0];
    const bool direct = dirs == 1;  // the kernel's output is the node's sequence
    const int out = direct ? tensor(y) : sequence(bth, p + "sequence");
    std::vector<int32_t> inputs{in};
    inputs.insert(inputs.end(), in_gates.begin(), in_gates.end());
    inputs.insert(inputs.end(), rec_gates.begin(), rec_gates.end());
    inputs.insert(inputs.end(), {-1, -1, -1});  // no peepholes
    inputs.insert(inputs.end(), biases.begin(), biases.end());
    inputs.insert(inputs.end(), {-1, -1});  // no projection
    inputs.insert(inputs.end(), {state[0], state[1]});
    m_.add_op(fb::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, std::move(inputs), {out},
              fb::BuiltinOptions_UnidirectionalSequenceLSTMOptions,
              fb::CreateUnidirectionalSequenceLSTMOptions(m_.fbb(), fb::ActivationFunctionType_TANH,
                                                          0.0f, 0.0f, /*time_major=*/false)
                  .Union());

    // h_n: the state after the kernel's last step, i.e. its output at the last time it saw.
    const Value* h_n = n->outputs[static_cast<size_t>(1 + d * 2)];
    if (is_read(h_n)) {
      // At free sizes the last step counts from the end (-1, then the one step shrunk).
      const int32_t last = free_steps ? -1 : i32(steps - 1);
      m_.add_op(
          fb::BuiltinOperator_STRIDED_SLICE, 1,
          {out, m_.add_int32({0, last, 0}, {3}, scope + "/begin"),
           m_.add_int32({i32(batch), i32(steps), i32(hidden)}, {3}, scope + "/end"),
           m_.add_int32({1, 1, 1}, {3}, scope + "/strides")},
          {tensor(h_n)}, fb::BuiltinOptions_StridedSliceOptions,
          fb::CreateStridedSliceOptions(m_.fbb(), 0, 0, 0, 0, /*shrink_axis_mask=*/2).Union());
    }
    if (d == 1) {
      int back = sequence(bth, p + "sequence_in_time_order");
      reverse_time(out, back);
      y_dir.push_back(back);
    } else {
      y_dir.push_back(out);
    }
  }
  if (dirs == 2) {
    m_.add_op(fb::BuiltinOperator_CONCATENATION, 1, {y_dir[0], y_dir[1]}, {tensor(n->outputs[0])},
              fb::BuiltinOptions_ConcatenationOptions,
              fb::CreateConcatenationOptions(m_.fbb(), 2).Union());
  }
}

void Writer::report_recurrent_option() {
  if (!options_.recurrent_explicit) return;
  const Node *lstm = nullptr, *gru = nullptr;
  for (const Node* n : g_.nodes()) {
    if (n->op == "lstm" && !lstm) lstm = n;
    if (n->op == "gru" && !gru) gru = n;
  }
  const char* form =
      options_.recurrent == RecurrentForm::kSequence ? "\"sequence\"" : "\"unrolled\"";
  if (!lstm)
    warnings_.push_back(std::string("recurrent=") + form +
                        " had no effect: the model has no LSTM layer");
  if (gru && options_.recurrent == RecurrentForm::kSequence)
    warnings_.push_back(layer_name(gru) +
                        " is written unrolled: TFLite has no GRU builtin, so "
                        "recurrent=\"sequence\" applies to LSTM layers only");
}

}  // namespace ferry::tflite::detail
