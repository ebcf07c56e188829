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
// With int8 weights the kernels are INT8: per output row in the unrolled FULLY_CONNECTEDs
// (version 12, the hybrid per-channel kernel), one scale per gate matrix in the builtin LSTM
// (version 2, its hybrid kernel); biases stay float32.
//
// The sequence form (WriteOptions::recurrent, the default) writes each LSTM direction as one
// UNIDIRECTIONAL_SEQUENCE_LSTM (version 1: float32, no layer norm, no peepholes). Its h and c
// are variable tensors the kernel starts from and overwrites, which the interpreter keeps
// across invoke() calls; an op in front of it rewrites them on every invoke (FILL with zeros,
// or a copy of the given h0/c0), so the file stays stateless.
#include <algorithm>

#include "tflite/recurrent_ops.h"
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

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
    if (!lstm) return emit_gru_loop(n);  // TFLite has no GRU builtin: a WHILE over the steps
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
    const int axis = kernel_axis(n, 0);
    const int in_w = ops.kernel(transposed(float_data(n, kernel, "the kernel"), features, gh),
                                {gh, features}, p + "input_weights", axis);
    const int in_b = ops.constant(in_bias, {gh}, p + "input_bias");
    Cell cell{ops, batch, hidden,
              ops.kernel(transposed(float_data(n, rec, "the recurrent kernel"), hidden, gh),
                         {gh, hidden}, p + "recurrent_weights", axis),
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
    // With int8 weights each gate matrix is INT8 with one scale (the hybrid kernel's form)
    // unless keep_float keeps the layer float.
    const bool int8_gates = options_.int8_weights && kernel_axis(n, 0) >= 0;
    std::vector<int32_t> in_gates, rec_gates, biases;
    for (int64_t g = 0; g < 4; ++g) {
      const std::string gate = p + kGate[g];
      in_gates.push_back(
          ops.gate_weights(std::vector<float>(in_w.begin() + g * hidden * features,
                                              in_w.begin() + (g + 1) * hidden * features),
                           {hidden, features}, gate + "_input_weights", int8_gates));
      rec_gates.push_back(
          ops.gate_weights(std::vector<float>(rec_w.begin() + g * hidden * hidden,
                                              rec_w.begin() + (g + 1) * hidden * hidden),
                           {hidden, hidden}, gate + "_recurrent_weights", int8_gates));
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
    const int version =
        m_.hybrid_version(in_gates[0], fb::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM, 1);
    m_.add_op(fb::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM, version, std::move(inputs), {out},
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
