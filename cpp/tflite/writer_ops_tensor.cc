// Reductions and broadcast_to (docs/tf_ops.md -> TFLite builtins). Versions come
// from op_version(); the element types accepted are those the LiteRT kernels implement.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

bool numeric(DType d) { return d == DType::kFloat32 || d == DType::kInt32 || d == DType::kInt64; }

}  // namespace

void Writer::emit_reduce(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string& op = n->op;
  fb::BuiltinOperator code = op == "mean"  ? fb::BuiltinOperator_MEAN
                             : op == "sum" ? fb::BuiltinOperator_SUM
                             : op == "max" ? fb::BuiltinOperator_REDUCE_MAX
                             : op == "min" ? fb::BuiltinOperator_REDUCE_MIN
                                           : fb::BuiltinOperator_REDUCE_PROD;
  // any / all reach here as bool max / min: REDUCE_ANY / REDUCE_ALL (bool only).
  const bool logical = x->dtype == DType::kBool && (op == "max" || op == "min");
  if (logical) code = op == "max" ? fb::BuiltinOperator_REDUCE_ANY : fb::BuiltinOperator_REDUCE_ALL;
  if (!logical && (op == "mean" ? x->dtype != DType::kFloat32 : !numeric(x->dtype)))
    fail(n, "TFLite's reduction kernels have no " + std::string(dtype_name(x->dtype)) +
                " version here");
  const int64_t rank = static_cast<int64_t>(x->rank());
  auto axes = n->attrs.get_ints("axes");
  for (auto& a : axes)
    if (a < 0) a += rank;
  const int in = tensor(x), dst = tensor(out);
  const std::string& s = n->scope;
  if (axes.empty()) {  // reduces nothing: a copy (an empty axes tensor would have no buffer)
    const Shape os = out->physical_shape();
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {in, m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, s + "/shape")},
              {dst});
    return;
  }
  int ax = m_.add_int32(to_i32(axes), {static_cast<int64_t>(axes.size())}, s + "/axes");
  add_op(code, {in, ax}, {dst}, fb::BuiltinOptions_ReducerOptions,
         fb::CreateReducerOptions(m_.fbb(), n->attrs.get_bool("keepdims")).Union());
}

void Writer::emit_broadcast_to(const Node* n) {
  const Value* out = n->outputs[0];
  const Shape os = out->physical_shape();
  int shape = m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, n->scope + "/shape");
  add_op(fb::BuiltinOperator_BROADCAST_TO, {tensor(n->inputs[0]), shape}, {tensor(out)});
}

}  // namespace ferry::tflite::detail
