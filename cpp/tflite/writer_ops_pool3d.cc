// 3-D pooling (docs/tf_ops.md `max_pool` / `avg_pool` on [N, D, H, W, C]). TFLite's
// MaxPool3D / AveragePool3D are custom ops, so the pool is split into two builtin 2-D pools,
// both on the channels-last tensor with no data moved (RESHAPEs only):
//   [N, D, H, W, C] -> [N·D, H, W, C] -> 2-D pool over (H, W) -> [N·D, H', W', C]
//   -> [N, D, H'·W', C] -> 2-D pool over (D, 1) -> [N, D', H'·W', C] -> [N, D', H', W', C].
// A window is a box, so its maximum is the maximum over D of the maxima over (H, W), and its
// average the average of averages of equally many elements; with SAME padding TF counts the
// valid elements of each axis separately, so the divisors multiply the same way.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_pool3d(const Node* n, fb::BuiltinOperator code) {
  const Value* x = n->inputs[0];
  if (x->dtype != DType::kFloat32) fail(n, "only float32 pooling is supported");
  const auto size = n->attrs.get_ints("pool_size"), strides = n->attrs.get_ints("strides");
  if (size.size() != 3 || strides.size() != 3) fail(n, "3-D pooling needs 3 window sizes");
  const fb::Padding padding =
      n->attrs.get_string("padding") == "SAME" ? fb::Padding_SAME : fb::Padding_VALID;
  const Value* out = n->outputs[0];
  Act act = fuse_activation(out, code);  // carried by the last 2-D pool
  const Shape xs = x->physical_shape(), os = out->physical_shape();
  const int64_t batch = xs[0], depth = xs[1], channels = xs[4];
  const std::string& s = n->scope;
  auto& f = m_.fbb();
  auto reshape_to = [&](int in, const Shape& shape, const std::string& tag) {
    int t = temp(x, shape, tag);
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {in, m_.add_int32(to_i32(shape), {static_cast<int64_t>(shape.size())},
                                s + "/" + tag + "_shape")},
              {t});
    return t;
  };
  auto pool = [&](int in, int dst, int64_t kh, int64_t kw, int64_t sh, int64_t sw, Act a) {
    m_.add_op(
        code, 1, {in}, {dst}, fb::BuiltinOptions_Pool2DOptions,
        fb::CreatePool2DOptions(f, padding, static_cast<int32_t>(sw), static_cast<int32_t>(sh),
                                static_cast<int32_t>(kw), static_cast<int32_t>(kh), a)
            .Union());
  };
  // Stage 1: each depth slice as an image of the batch. A 1x1 window with stride 1 is skipped.
  const bool planar = size[1] != 1 || size[2] != 1 || strides[1] != 1 || strides[2] != 1;
  const Shape rows = {batch, depth, os[2] * os[3], channels};
  int flat;
  if (planar) {
    int images = reshape_to(tensor(x), {batch * depth, xs[2], xs[3], channels}, "_images");
    int pooled = temp(x, {batch * depth, os[2], os[3], channels}, "_plane_pooled");
    pool(images, pooled, size[1], size[2], strides[1], strides[2], fb::ActivationFunctionType_NONE);
    flat = reshape_to(pooled, rows, "_rows");
  } else {
    flat = reshape_to(tensor(x), rows, "_rows");
  }
  // Stage 2: the depth axis as the height of [N, D, H'·W', C].
  int result = temp(x, {batch, os[1], os[2] * os[3], channels}, "_depth_pooled");
  pool(flat, result, size[0], 1, strides[0], 1, act);
  m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
            {result, m_.add_int32(to_i32(os), {5}, s + "/out_shape")}, {tensor(out)});
}

}  // namespace ferry::tflite::detail
