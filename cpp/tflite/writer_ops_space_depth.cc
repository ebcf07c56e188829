// space_to_depth and depth_to_space (docs/tf_ops.md) -> SPACE_TO_DEPTH / DEPTH_TO_SPACE, whose
// channel order is the TF-level ops' own. Versions from op_version() (2 for int8 only).
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_space_depth(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  if (x->rank() != 4) fail(n, "only [N, H, W, C] tensors are supported");
  // The element types both LiteRT kernels implement.
  const DType t = x->dtype;
  if (t != DType::kFloat32 && t != DType::kInt32 && t != DType::kInt64 && t != DType::kUInt8 &&
      t != DType::kInt8)
    fail(n, "TFLite's kernel has no " + std::string(dtype_name(t)) + " version");
  const int64_t block = n->attrs.get_int("block_size");
  if (block < 2) fail(n, "the block size must be at least 2");
  auto& f = m_.fbb();
  const int32_t b = static_cast<int32_t>(block);
  if (n->op == "space_to_depth") {
    add_op(fb::BuiltinOperator_SPACE_TO_DEPTH, {tensor(x)}, {tensor(out)},
           fb::BuiltinOptions_SpaceToDepthOptions, fb::CreateSpaceToDepthOptions(f, b).Union());
  } else {
    add_op(fb::BuiltinOperator_DEPTH_TO_SPACE, {tensor(x)}, {tensor(out)},
           fb::BuiltinOptions_DepthToSpaceOptions, fb::CreateDepthToSpaceOptions(f, b).Union());
  }
}

}  // namespace ferry::tflite::detail
