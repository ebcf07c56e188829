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
  // Free sizes: the grouped view's target and the way back are read at run time (SHAPE): the
  // batch as it is, the dims before or after the channels as the one -1; the views' tensors
  // say which of their sizes are free.
  const bool free = has_free_dims(x->sym);
  int x_shape = -1, grouped_target = -1;
  std::vector<int32_t> grouped_sig, stats_sig;
  if (free) {
    const SymDims sym = x->physical_sym();
    bool before_free = false, after_free = false;
    for (int64_t d = 1; d < axis; ++d) before_free |= sym[d] >= 0;
    for (int64_t d = axis + 1; d < rank; ++d) after_free |= sym[d] >= 0;
    const bool batch_free = sym[0] >= 0;
    auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };
    grouped_sig = {batch_free ? -1 : i32(grouped[0]), before_free ? -1 : i32(grouped[1]),
                   i32(groups), after_free ? -1 : i32(grouped[3])};
    stats_sig = {batch_free ? -1 : i32(xs[0]), 1, i32(groups), 1};
    x_shape = m_.add_tensor(fb::TensorType_INT32, {rank}, s + "/x_shape");
    add_op(fb::BuiltinOperator_SHAPE, {tensor(x)}, {x_shape}, fb::BuiltinOptions_ShapeOptions,
           fb::CreateShapeOptions(f, fb::TensorType_INT32).Union());
    const int batch = m_.add_tensor(fb::TensorType_INT32, {1}, s + "/batch");
    add_op(fb::BuiltinOperator_STRIDED_SLICE,
           {x_shape, m_.add_int32({0}, {1}, s + "/begin"), m_.add_int32({1}, {1}, s + "/end"),
            m_.add_int32({1}, {1}, s + "/stride")},
           {batch}, fb::BuiltinOptions_StridedSliceOptions,
           fb::CreateStridedSliceOptions(f).Union());
    grouped_target = m_.add_tensor(fb::TensorType_INT32, {4}, s + "/grouped_shape");
    add_op(fb::BuiltinOperator_CONCATENATION,
           {batch, m_.add_int32({grouped_sig[1], grouped_sig[2], grouped_sig[3]}, {3},
                                s + "/grouped_rest")},
           {grouped_target}, fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(f, 0).Union());
  }
  auto grouped_temp = [&](const std::string& tag, bool is_stats) {
    const int t = temp(x, is_stats ? stats : grouped, tag);
    if (free) m_.set_signature(t, is_stats ? stats_sig : grouped_sig);
    return t;
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
  int g = grouped_temp("_grouped", false), mean = grouped_temp("_mean", true),
      centred = grouped_temp("_centred", false), sq = grouped_temp("_squared", false),
      var = grouped_temp("_var", true), var_eps = grouped_temp("_var_eps", true),
      rstd = grouped_temp("_rstd", true), normed = grouped_temp("_normed", false);
  if (free) {
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {tensor(x), grouped_target}, {g});
  } else {
    reshape_into(tensor(x), g, grouped, "grouped_shape");
  }
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
  if (free) {
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {normed, x_shape}, {y});
  } else {
    reshape_into(normed, y, xs, "shape");
  }
  if (has_gamma) {
    int scaled = has_beta ? temp(x, xs, "_scaled") : tensor(out);
    binary(fb::BuiltinOperator_MUL, y, param_tensor(gamma, "gamma"), scaled);
    y = scaled;
  }
  if (has_beta) binary(fb::BuiltinOperator_ADD, y, param_tensor(beta, "beta"), tensor(out));
}

}  // namespace ferry::tflite::detail
