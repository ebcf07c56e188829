// `conv_transpose` (the full transposed convolution, no padding: lowering already cropped,
// dilated and ungrouped it) as TRANSPOSE_CONV with VALID padding for 1-D (a height-1 image,
// RESHAPEd around it) and 2-D, CONV_3D_TRANSPOSE for 3-D. TRANSPOSE_CONV is version 1, or 3
// with the bias input; its filter is OHWI ([Cout, kh, kw, Cin]). CONV_3D_TRANSPOSE (version 1)
// takes the core's kernel as it is ([kd, kh, kw, Cout, Cin]). Activations are not fused:
// TRANSPOSE_CONV reads its fused activation only from version 4 (runtime 2.13) on.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_conv_transpose(const Node* n) {
  const Value *x = n->inputs[0], *k = n->inputs[1], *out = n->outputs[0];
  const Value* bias = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
  if (x->dtype != DType::kFloat32) fail(n, "only float32 transposed convolutions are supported");
  const size_t rank = x->rank();
  if (rank < 3 || rank > 5) fail(n, "only 1-D, 2-D and 3-D transposed convolutions are supported");
  auto strides = n->attrs.get_ints("strides");
  auto& f = m_.fbb();
  auto i32 = [](const Shape& s) { return std::vector<int32_t>(s.begin(), s.end()); };
  const Shape xs = x->physical_shape(), os = out->physical_shape();
  if (rank == 5) {
    int shape = m_.add_int32(i32(os), {5}, n->scope + "/output_shape");
    std::vector<int32_t> in = {shape, weights(n, k, {}, "filter"), tensor(x)};
    if (bias) in.push_back(weights(n, bias, {}, "bias"));
    auto opts =
        fb::CreateConv3DOptions(f, fb::Padding_VALID, static_cast<int32_t>(strides[0]),
                                static_cast<int32_t>(strides[2]), static_cast<int32_t>(strides[1]));
    m_.add_op(fb::BuiltinOperator_CONV_3D_TRANSPOSE, 1, in, {tensor(out)},
              fb::BuiltinOptions_Conv3DOptions, opts.Union());
    return;
  }
  const bool line = rank == 3;     // [N, W, C] as [N, 1, W, C]
  Shape ks = k->physical_shape();  // [(kh,) kw, Cout, Cin]
  if (line) {
    ks.insert(ks.begin(), 1);
    strides.insert(strides.begin(), 1);
  }
  Shape xi = xs, oi = os;
  if (line) {
    xi.insert(xi.begin() + 1, 1);
    oi.insert(oi.begin() + 1, 1);
  }
  int in = tensor(x);
  if (line) {
    int image = m_.add_tensor(tensor_type(x->dtype), xi, "tmp" + std::to_string(x->id) + "_image");
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {in, m_.add_int32(i32(xi), {4}, n->scope + "/image_shape")}, {image});
    in = image;
  }
  // [kh, kw, Cout, Cin] -> [Cout, kh, kw, Cin]; for 1-D [kw, Cout, Cin] -> [Cout, kw, Cin],
  // viewed as [Cout, 1, kw, Cin].
  int filter = line ? weights(n, k, {1, 0, 2}, "filter", {ks[2], 1, ks[1], ks[3]})
                    : weights(n, k, {2, 0, 1, 3}, "filter");
  std::vector<int32_t> inputs = {m_.add_int32(i32(oi), {4}, n->scope + "/output_shape"), filter,
                                 in};
  if (bias) inputs.push_back(weights(n, bias, {}, "bias"));
  int result = line ? temp(out, oi, "_image") : tensor(out);
  auto opts = fb::CreateTransposeConvOptions(f, fb::Padding_VALID, static_cast<int32_t>(strides[1]),
                                             static_cast<int32_t>(strides[0]));
  m_.add_op(fb::BuiltinOperator_TRANSPOSE_CONV, bias ? 3 : 1, inputs, {result},
            fb::BuiltinOptions_TransposeConvOptions, opts.Union());
  if (line)
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {result, m_.add_int32(i32(os), {3}, n->scope + "/line_shape")}, {tensor(out)});
}

}  // namespace ferry::tflite::detail
