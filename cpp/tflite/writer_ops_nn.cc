// Emitters for matrix products, normalisation and activations beyond the CNN set
// (docs/tf_ops.md -> TFLite builtins). Versions are the lowest that express what is used:
//   BATCH_MATMUL 1; GELU 1; FULLY_CONNECTED as for `dense`.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

// SOFTMAX / LOG_SOFTMAX work on the last axis: another axis is swapped with it, and back (the
// swap is its own inverse).
void Writer::emit_softmax(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  if (x->dtype != DType::kFloat32) fail(n, "only float32 is supported");
  const bool log = n->op == "log_softmax";
  int64_t rank = static_cast<int64_t>(x->rank()), axis = n->attrs.get_int("axis");
  if (axis < 0) axis += rank;
  auto& f = m_.fbb();
  auto softmax = [&](int in, int dst) {
    if (log)
      add_op(fb::BuiltinOperator_LOG_SOFTMAX, {in}, {dst});
    else
      add_op(fb::BuiltinOperator_SOFTMAX, {in}, {dst}, fb::BuiltinOptions_SoftmaxOptions,
             fb::CreateSoftmaxOptions(f, 1.0f).Union());
  };
  if (axis == rank - 1) return softmax(tensor(x), tensor(out));
  std::vector<int32_t> perm(rank);
  for (int64_t i = 0; i < rank; ++i) perm[i] = static_cast<int32_t>(i);
  std::swap(perm[axis], perm[rank - 1]);
  Shape xs = x->physical_shape(), ts = xs;
  for (int64_t i = 0; i < rank; ++i) ts[i] = xs[perm[i]];
  int p = m_.add_int32(perm, {rank}, n->scope + "/perm");
  int moved = temp(x, ts, "_moved"), soft = temp(x, ts, log ? "_log_softmax" : "_softmax");
  add_op(fb::BuiltinOperator_TRANSPOSE, {tensor(x), p}, {moved},
         fb::BuiltinOptions_TransposeOptions, fb::CreateTransposeOptions(f).Union());
  softmax(moved, soft);
  add_op(fb::BuiltinOperator_TRANSPOSE, {soft, p}, {tensor(out)},
         fb::BuiltinOptions_TransposeOptions, fb::CreateTransposeOptions(f).Union());
}

void Writer::emit_gelu(const Node* n) {
  if (n->inputs[0]->dtype != DType::kFloat32) fail(n, "only float32 gelu is supported");
  const std::string approximate =
      n->attrs.has("approximate") ? n->attrs.get_string("approximate") : "none";
  if (approximate != "none" && approximate != "tanh")
    fail(n, "gelu approximation '" + approximate + "' is not supported");
  m_.add_op(fb::BuiltinOperator_GELU, 1, {tensor(n->inputs[0])}, {tensor(n->outputs[0])},
            fb::BuiltinOptions_GeluOptions,
            fb::CreateGeluOptions(m_.fbb(), approximate == "tanh").Union());
}

void Writer::emit_matmul(const Node* n) {
  check_rank(n, 4);
  const Value *a = n->inputs[0], *b = n->inputs[1], *out = n->outputs[0];
  if (a->dtype != DType::kFloat32 || b->dtype != DType::kFloat32)
    fail(n, "only float32 matmul is supported");
  const bool ta = n->attrs.has("transpose_a") && n->attrs.get_bool("transpose_a");
  const bool tb = n->attrs.has("transpose_b") && n->attrs.get_bool("transpose_b");
  auto& f = m_.fbb();
  if (b->is_constant() && b->rank() == 2 && !ta && a->rank() >= 2) {
    // A constant 2-D right operand: FULLY_CONNECTED, weights [out, in] (b transposed).
    Shape bs = b->physical_shape();
    const int64_t outs = tb ? bs[0] : bs[1];
    bool keep = a->rank() > 2;
    int in = tensor(a),
        w = weights(n, b, tb ? std::vector<int64_t>{} : std::vector<int64_t>{1, 0}, "weights");
    int bias = floats(std::vector<float>(outs, 0.0f), {outs}, n->scope + "/bias");
    m_.add_op(fb::BuiltinOperator_FULLY_CONNECTED, keep ? 5 : 1, {in, w, bias}, {tensor(out)},
              fb::BuiltinOptions_FullyConnectedOptions,
              fb::CreateFullyConnectedOptions(f, fb::ActivationFunctionType_NONE, 0, keep).Union());
    return;
  }
  if (a->rank() < 2 || b->rank() < 2) fail(n, "matmul of a vector is not supported yet");
  m_.add_op(fb::BuiltinOperator_BATCH_MATMUL, 1, {tensor(a), tensor(b)}, {tensor(out)},
            fb::BuiltinOptions_BatchMatMulOptions, fb::CreateBatchMatMulOptions(f, ta, tb).Union());
}

// mean = MEAN(x); d = x - mean; y = d * RSQRT(MEAN(d * d) + eps) * gamma + beta.
void Writer::emit_layer_norm(const Node* n) {
  check_rank(n, 4);
  const Value *x = n->inputs[0], *out = n->outputs[0];
  if (x->dtype != DType::kFloat32) fail(n, "only float32 layer norm is supported");
  const int64_t rank = static_cast<int64_t>(x->rank());
  auto axes = n->attrs.get_ints("axes");
  Shape xs = x->physical_shape(), reduced = xs, param(rank, 1);
  for (auto& a : axes) {
    if (a < 0) a += rank;
    reduced[a] = 1;
    param[a] = xs[a];  // gamma/beta hold the axes' sizes in ascending axis order
  }
  const Value* gamma = n->inputs.size() > 1 ? n->inputs[1] : nullptr;
  const Value* beta = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
  auto& f = m_.fbb();
  const std::string& s = n->scope;
  int in = tensor(x),
      ax = m_.add_int32(to_i32(axes), {static_cast<int64_t>(axes.size())}, s + "/axes");
  auto mean_op = [&](int src, int dst) {
    m_.add_op(fb::BuiltinOperator_MEAN, 1, {src, ax}, {dst}, fb::BuiltinOptions_ReducerOptions,
              fb::CreateReducerOptions(f, true).Union());
  };
  auto binary = [&](fb::BuiltinOperator code, int l, int r, int dst) {
    if (code == fb::BuiltinOperator_ADD)
      m_.add_op(code, 1, {l, r}, {dst}, fb::BuiltinOptions_AddOptions,
                fb::CreateAddOptions(f).Union());
    else if (code == fb::BuiltinOperator_SUB)
      m_.add_op(code, 1, {l, r}, {dst}, fb::BuiltinOptions_SubOptions,
                fb::CreateSubOptions(f).Union());
    else
      m_.add_op(code, 1, {l, r}, {dst}, fb::BuiltinOptions_MulOptions,
                fb::CreateMulOptions(f).Union());
  };
  int mean = temp(x, reduced, "_mean"), centred = temp(x, xs, "_centred"),
      sq = temp(x, xs, "_squared"), var = temp(x, reduced, "_var"),
      var_eps = temp(x, reduced, "_var_eps"), rstd = temp(x, reduced, "_rstd");
  mean_op(in, mean);
  binary(fb::BuiltinOperator_SUB, in, mean, centred);
  binary(fb::BuiltinOperator_MUL, centred, centred, sq);
  mean_op(sq, var);
  binary(fb::BuiltinOperator_ADD, var,
         m_.add_float_scalar(static_cast<float>(n->attrs.get_float("epsilon")), s + "/epsilon"),
         var_eps);
  m_.add_op(fb::BuiltinOperator_RSQRT, 1, {var_eps}, {rstd});
  // A computed gamma/beta (F.layer_norm with run-time weights) arrives in the order of the
  // normalised axes (the layout stage permutes it so): a RESHAPE puts its dims at those axes.
  auto param_tensor = [&](const Value* v, const char* what) {
    if (v->is_constant()) return floats(float_data(n, v, what), param, s + "/" + what);
    if (v->dtype != DType::kFloat32) fail(n, std::string(what) + " must be float32");
    int t = temp(v, param, std::string("_") + what);
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {tensor(v), m_.add_int32(to_i32(param), {rank}, s + "/" + what + "_shape")}, {t});
    return t;
  };
  bool has_gamma = gamma != nullptr, has_beta = beta != nullptr;
  int normed = has_gamma || has_beta ? temp(x, xs, "_normed") : tensor(out);
  binary(fb::BuiltinOperator_MUL, centred, rstd, normed);
  if (has_gamma) {
    int scaled = has_beta ? temp(x, xs, "_scaled") : tensor(out);
    binary(fb::BuiltinOperator_MUL, normed, param_tensor(gamma, "gamma"), scaled);
    normed = scaled;
  }
  if (has_beta) binary(fb::BuiltinOperator_ADD, normed, param_tensor(beta, "beta"), tensor(out));
}

}  // namespace ferry::tflite::detail
