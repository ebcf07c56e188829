// gather, scatter_nd and top_k (docs/tf_ops.md -> TFLite builtins), with the element types the
// LiteRT kernels implement: GATHER takes float32, int32, int64 and bool data at int32 indices;
// SCATTER_ND float32, int32 and int64 updates at int32 indices (and an int32 shape); TOPK_V2
// float32, int32 and int64 along the last axis, with int32 indices. The rules narrow PyTorch's
// int64 indices to int32 where they index a dim of static size (lower/indexing.h).
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

bool gather_type(DType d) {
  return d == DType::kFloat32 || d == DType::kInt32 || d == DType::kInt64 || d == DType::kBool;
}

bool number_type(DType d) {
  return d == DType::kFloat32 || d == DType::kInt32 || d == DType::kInt64;
}

}  // namespace

void Writer::emit_gather(const Node* n) {
  const Value *x = n->inputs[0], *index = n->inputs[1];
  if (!gather_type(x->dtype))
    fail(n, "GATHER takes float32, int32, int64 or bool data, not " +
                std::string(dtype_name(x->dtype)));
  if (index->dtype != DType::kInt32 && index->dtype != DType::kInt64)
    fail(n, "GATHER takes int32 or int64 indices");
  int64_t axis = n->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(x->rank());
  add_op(fb::BuiltinOperator_GATHER, {tensor(x), tensor(index)}, {tensor(n->outputs[0])},
         fb::BuiltinOptions_GatherOptions,
         fb::CreateGatherOptions(m_.fbb(), static_cast<int32_t>(axis)).Union());
}

void Writer::emit_scatter_nd(const Node* n) {
  const Value *index = n->inputs[0], *updates = n->inputs[1], *out = n->outputs[0];
  if (index->dtype != DType::kInt32) fail(n, "SCATTER_ND takes int32 indices");
  if (!number_type(updates->dtype))
    fail(n, "SCATTER_ND takes float32, int32 or int64 updates, not " +
                std::string(dtype_name(updates->dtype)));
  const Shape shape = out->physical_shape();
  int dims = m_.add_int32(to_i32(shape), {static_cast<int64_t>(shape.size())}, n->scope + "/shape");
  add_op(fb::BuiltinOperator_SCATTER_ND, {tensor(index), tensor(updates), dims}, {tensor(out)});
}

void Writer::emit_top_k(const Node* n) {
  const Value* x = n->inputs[0];
  if (!number_type(x->dtype))
    fail(n, "TOPK_V2 takes float32, int32 or int64, not " + std::string(dtype_name(x->dtype)));
  if (n->outputs[1]->dtype != DType::kInt32) fail(n, "TOPK_V2 returns int32 indices");
  int k = m_.add_int32({static_cast<int32_t>(n->attrs.get_int("k"))}, {1}, n->scope + "/k");
  add_op(fb::BuiltinOperator_TOPK_V2, {tensor(x), k},
         {tensor(n->outputs[0]), tensor(n->outputs[1])});
}

}  // namespace ferry::tflite::detail
