// group_norm (docs/tf_ops.md -> TFLite builtins). The channels are grouped where they lie: the
// tensor is viewed (RESHAPE, no data moved) as [N, P, G, C/G · Q], P the product of the dims
// between the batch and the channel axis, Q of those after it ([N, H·W, G, C/G] channels-last,
// [N, 1, G, C/G · H·W] channels-first), and normalised over axes 1 and 3 as layer_norm is:
// MEAN, SUB, MUL, MEAN, ADD eps, RSQRT, MUL; then RESHAPE back, MUL gamma and ADD beta along
// the channel axis. Every op is at version 1 (float32, 4-D).
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_group_norm(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  if (x->dtype != DType::kFloat32) fail(n, "only float32 group norm is supported");
  const int64_t rank = static_cast<int64_t>(x->rank());
  int64_t axis = n->attrs.get_int("axis");
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank) fail(n, "the channel axis must follow the batch axis");
  const int64_t groups = n->attrs.get_int("groups");
  const Shape xs = x->physical_shape();
  const int64_t channels = xs[axis];
  if (groups <= 0 || channels % groups) fail(n, "channels do not split into the groups");
  int64_t before = 1, after = 1;
  for (int64_t d = 1; d < axis; ++d) before *= xs[d];
  for (int64_t d = axis + 1; d < rank; ++d) after *= xs[d];
  const Shape grouped = {xs[0], before, groups, channels / groups * after};
  const Shape stats = {xs[0], 1, groups, 1};
  Shape param(rank, 1);
  param[axis] = channels;
  const Value* gamma = n->inputs.size() > 1 ? n->inputs[1] : nullptr;
  const Value* beta = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
  auto& f = m_.fbb();
  const std::string& s = n->scope;
  auto reshape_into = [&](int in, int dst, const Shape& shape, const std::string& tag) {
    m_.add_op(
        fb::BuiltinOperator_RESHAPE, 1,
        {in, m_.add_int32(to_i32(shape), {static_cast<int64_t>(shape.size())}, s + "/" + tag)},
        {dst});
  };
  auto binary = [&](fb::BuiltinOperator code, int l, int r, int dst) {
    if (code == fb::BuiltinOperator_ADD)
      add_op(code, {l, r}, {dst}, fb::BuiltinOptions_AddOptions, fb::CreateAddOptions(f).Union());
    else if (code == fb::BuiltinOperator_SUB)
      add_op(code, {l, r}, {dst}, fb::BuiltinOptions_SubOptions, fb::CreateSubOptions(f).Union());
    else
      add_op(code, {l, r}, {dst}, fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(f).Union());
  };
  int axes = m_.add_int32({1, 3}, {2}, s + "/axes");
  auto mean_op = [&](int src, int dst) {
    add_op(fb::BuiltinOperator_MEAN, {src, axes}, {dst}, fb::BuiltinOptions_ReducerOptions,
           fb::CreateReducerOptions(f, true).Union());
  };
  int g = temp(x, grouped, "_grouped"), mean = temp(x, stats, "_mean"),
      centred = temp(x, grouped, "_centred"), sq = temp(x, grouped, "_squared"),
      var = temp(x, stats, "_var"), var_eps = temp(x, stats, "_var_eps"),
      rstd = temp(x, stats, "_rstd"), normed = temp(x, grouped, "_normed");
  reshape_into(tensor(x), g, grouped, "grouped_shape");
  mean_op(g, mean);
  binary(fb::BuiltinOperator_SUB, g, mean, centred);
  binary(fb::BuiltinOperator_MUL, centred, centred, sq);
  mean_op(sq, var);
  binary(fb::BuiltinOperator_ADD, var,
         m_.add_float_scalar(static_cast<float>(n->attrs.get_float("epsilon")), s + "/epsilon"),
         var_eps);
  m_.add_op(fb::BuiltinOperator_RSQRT, 1, {var_eps}, {rstd});
  binary(fb::BuiltinOperator_MUL, centred, rstd, normed);
  // gamma / beta: [C] constants or computed tensors, put on the channel axis.
  auto param_tensor = [&](const Value* v, const std::string& what) {
    if (v->dtype != DType::kFloat32) fail(n, what + " must be float32");
    if (v->is_constant()) return floats(float_data(n, v, what.c_str()), param, s + "/" + what);
    int t = temp(v, param, "_" + what);
    reshape_into(tensor(v), t, param, what + "_shape");
    return t;
  };
  const bool has_gamma = gamma != nullptr, has_beta = beta != nullptr;
  int y = has_gamma || has_beta ? temp(x, xs, "_normalized") : tensor(out);
  reshape_into(normed, y, xs, "shape");
  if (has_gamma) {
    int scaled = has_beta ? temp(x, xs, "_scaled") : tensor(out);
    binary(fb::BuiltinOperator_MUL, y, param_tensor(gamma, "gamma"), scaled);
    y = scaled;
  }
  if (has_beta) binary(fb::BuiltinOperator_ADD, y, param_tensor(beta, "beta"), tensor(out));
}

}  // namespace ferry::tflite::detail
