// 3-D convolutions ([N, D, H, W, C]) as CONV_3D (version 1), whose filter is DHWIO, the
// core's conv kernel layout. CONV_3D has no groups: a grouped convolution becomes one CONV_3D
// per group on a channel slice, then CONCATENATION, and a depthwise one is the grouped
// convolution with one input channel per group (its [kd, kh, kw, C, M] kernel, read as
// [kd, kh, kw, 1, C*M], is that convolution's kernel). Batch norms fold as for 2-D
// convolutions; activations fuse into an ungrouped CONV_3D only.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

std::vector<int64_t> triple_attr(const Node* n, const char* name) {
  if (!n->attrs.has(name) || n->attrs.is_none(name)) return {1, 1, 1};
  auto v = n->attrs.get_ints(name);
  if (v.size() == 1) v.assign(3, v[0]);
  return v;
}

}  // namespace

void Writer::emit_conv3d(const Node* n) {
  const Value *x = n->inputs[0], *k = n->inputs[1];
  const bool depthwise = n->op == "depthwise_conv";
  Shape ks = k->physical_shape();  // [kd, kh, kw, in/groups, out], depthwise [kd, kh, kw, C, M]
  if (ks.size() != 5) fail(n, "a 3-D convolution needs a rank-5 kernel");
  int64_t groups = depthwise ? ks[3] : n->attrs.has("groups") ? n->attrs.get_int("groups") : 1;
  if (depthwise) ks = {ks[0], ks[1], ks[2], 1, ks[3] * ks[4]};
  const int64_t cin = ks[3], cout = ks[4], cout_g = cout / groups;
  std::vector<float> kernel = float_data(n, k, "the kernel");
  std::vector<float> bias = bias_data(n, cout);
  const Value* out = n->outputs[0];
  fold_batch_norms(out, kernel, bias);
  // The activation goes into the last op: CONV_3D, or for groups the CONCATENATION, whose
  // kernel takes none (the activation then stays an op of its own).
  Act act = fuse_activation(
      out, groups > 1 ? fb::BuiltinOperator_CONCATENATION : fb::BuiltinOperator_CONV_3D);
  auto strides = triple_attr(n, "strides"), dil = triple_attr(n, "dilations");
  if (strides.size() != 3 || dil.size() != 3) fail(n, "strides and dilations need 3 entries");
  const fb::Padding padding =
      n->attrs.get_string("padding") == "SAME" ? fb::Padding_SAME : fb::Padding_VALID;
  const Shape xs = x->physical_shape(), os = out->physical_shape();
  const int64_t taps = ks[0] * ks[1] * ks[2];
  std::vector<int32_t> parts;
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<float> filter(taps * cin * cout_g),
        b(bias.begin() + g * cout_g, bias.begin() + (g + 1) * cout_g);
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t o = 0; o < cout_g; ++o)
          filter[(t * cin + i) * cout_g + o] = kernel[(t * cin + i) * cout + g * cout_g + o];
    const std::string base = n->scope + (groups > 1 ? "/group" + std::to_string(g) : "");
    int in = tensor(x);
    if (groups > 1) {
      auto c = [](int64_t v) { return static_cast<int32_t>(v); };
      int sliced = temp(x, {xs[0], xs[1], xs[2], xs[3], cin}, "_g" + std::to_string(g));
      add_op(fb::BuiltinOperator_STRIDED_SLICE,
             {in, m_.add_int32({0, 0, 0, 0, c(g * cin)}, {5}, base + "/begin"),
              m_.add_int32({c(xs[0]), c(xs[1]), c(xs[2]), c(xs[3]), c((g + 1) * cin)}, {5},
                           base + "/end"),
              m_.add_int32({1, 1, 1, 1, 1}, {5}, base + "/strides")},
             {sliced}, fb::BuiltinOptions_StridedSliceOptions,
             fb::CreateStridedSliceOptions(m_.fbb()).Union());
      in = sliced;
    }
    int result = groups > 1
                     ? temp(out, {os[0], os[1], os[2], os[3], cout_g}, "_c" + std::to_string(g))
                     : tensor(out);
    auto opts = fb::CreateConv3DOptions(
        m_.fbb(), padding, static_cast<int32_t>(strides[0]), static_cast<int32_t>(strides[2]),
        static_cast<int32_t>(strides[1]), groups > 1 ? fb::ActivationFunctionType_NONE : act,
        static_cast<int32_t>(dil[0]), static_cast<int32_t>(dil[2]), static_cast<int32_t>(dil[1]));
    add_op(fb::BuiltinOperator_CONV_3D,
           {in, floats(filter, {ks[0], ks[1], ks[2], cin, cout_g}, base + "/filter"),
            floats(b, {cout_g}, base + "/bias")},
           {result}, fb::BuiltinOptions_Conv3DOptions, opts.Union());
    parts.push_back(result);
  }
  if (groups > 1)
    add_op(fb::BuiltinOperator_CONCATENATION, parts, {tensor(out)},
           fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(m_.fbb(), 4, act).Union());
}

}  // namespace ferry::tflite::detail
