// One emitter per TF-level op family (docs/tf_ops.md -> TFLite builtins); versions as listed
// in writer_impl.h.
#include <algorithm>
#include <cmath>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

namespace {

// The largest rank the kernels Ferry emits accept (TRANSPOSE 6, BROADCAST_TO and the
// elementwise ones more); ops with a lower limit check it themselves.
constexpr size_t kMaxRank = 6;

fb::Padding padding_of(const Node* n) {
  return n->attrs.get_string("padding") == "SAME" ? fb::Padding_SAME : fb::Padding_VALID;
}

// [h, w] strides, dilations or window of a 2-D op; a 1-D op ([N, W, C], `line`) runs as a 2-D
// one on a height-1 image, so its single entry is the width's.
std::vector<int64_t> pair_attr(const Node* n, const char* name, bool line = false) {
  if (!n->attrs.has(name) || n->attrs.is_none(name)) return {1, 1};
  auto v = n->attrs.get_ints(name);
  if (v.size() == 1) v.insert(v.begin(), line ? 1 : v[0]);
  return v;
}

// RESHAPE of tensor `in` into tensor `out` (1-D ops: [N, W, C] <-> [N, 1, W, C]). At free
// sizes (-1 in `out`'s shape_signature) one free size is RESHAPE's -1; with several, the unit
// dim at 1 is added by EXPAND_DIMS or dropped by SQUEEZE, which hold at any size.
void reshape(ModelBuilder& m, int in, int out, const std::string& name) {
  std::vector<int32_t> shape = m.tensor(out).shape;
  const std::vector<int32_t>& signature = m.tensor(out).signature;
  const auto free = std::count(signature.begin(), signature.end(), -1);
  if (free == 1) shape[std::find(signature.begin(), signature.end(), -1) - signature.begin()] = -1;
  if (free <= 1) {
    m.add_op(fb::BuiltinOperator_RESHAPE, 1,
             {in, m.add_int32(shape, {static_cast<int64_t>(shape.size())}, name)}, {out});
    return;
  }
  const size_t in_rank = m.tensor(in).shape.size();
  if (shape.size() == in_rank + 1 && shape[1] == 1) {
    m.add_op(fb::BuiltinOperator_EXPAND_DIMS, 1, {in, m.add_int32({1}, {}, name + "_axis")}, {out});
  } else if (shape.size() + 1 == in_rank && m.tensor(in).shape[1] == 1) {
    auto& f = m.fbb();
    m.add_op(fb::BuiltinOperator_SQUEEZE, 1, {in}, {out}, fb::BuiltinOptions_SqueezeOptions,
             fb::CreateSqueezeOptions(f, f.CreateVector(std::vector<int32_t>{1})).Union());
  } else {
    throw TfliteError("TFLite writer: a reshape of several free sizes (" + name + ")");
  }
}

// A new tensor of `shape` holding tensor `in` reshaped; `shape` is `in`'s with a unit dim at 1
// (the 1-D ops' image form), so free sizes carry over.
int reshaped(ModelBuilder& m, int in, const Shape& shape, const std::string& name) {
  int out = m.add_tensor(m.tensor(in).type, shape, name);
  std::vector<int32_t> signature = m.tensor(in).signature;
  if (!signature.empty() && signature.size() + 1 == shape.size()) {
    signature.insert(signature.begin() + 1, 1);
    m.set_signature(out, std::move(signature));
  }
  reshape(m, in, out, name + "/shape");
  return out;
}

Shape as_image(Shape s) {
  s.insert(s.begin() + 1, 1);
  return s;
}

}  // namespace

void Writer::emit(const Node* n) {
  const std::string& op = n->op;
  m_.set_origin(n->scope, n->op);
  for (const auto* values : {&n->inputs, &n->outputs})
    for (const Value* v : *values)
      if (v && v->rank() > kMaxRank)
        fail(n, "a tensor of rank " + std::to_string(v->rank()) + " (TFLite kernels take at most " +
                    std::to_string(kMaxRank) + " dimensions)");
  if ((op == "conv" || op == "depthwise_conv") && n->inputs[0]->rank() == 5) return emit_conv3d(n);
  if (op == "conv") return emit_conv(n);
  if (op == "conv_transpose") return emit_conv_transpose(n);
  if (op == "while" || op == "if") return emit_control_flow(n);
  if (op == "depthwise_conv") return emit_depthwise(n);
  if (op == "dense") return emit_dense(n);
  if (op == "batch_norm") return emit_batch_norm(n);
  if (op == "max_pool") return emit_pool(n, fb::BuiltinOperator_MAX_POOL_2D);
  if (op == "avg_pool") return emit_pool(n, fb::BuiltinOperator_AVERAGE_POOL_2D);
  if (op == "pad") return emit_pad(n);
  if (op == "relu" || op == "relu6" || op == "sigmoid" || op == "tanh" || op == "hard_swish" ||
      op == "hard_sigmoid" || op == "silu" || op == "clip")
    return emit_unary(n);
  if (op == "exp" || op == "log" || op == "sqrt" || op == "rsqrt" || op == "neg" || op == "abs" ||
      op == "floor" || op == "ceil" || op == "round" || op == "sin" || op == "cos" ||
      op == "logical_not" || op == "leaky_relu" || op == "elu" || op == "erf")
    return emit_math(n);
  if (op == "add" || op == "sub" || op == "mul" || op == "div" || op == "floor_div" ||
      op == "pow" || op == "maximum" || op == "minimum" || op == "equal" || op == "not_equal" ||
      op == "less" || op == "less_equal" || op == "greater" || op == "greater_equal" ||
      op == "logical_and" || op == "logical_or" || op == "where")
    return emit_elementwise(n);
  if (op == "cast") return emit_cast(n);
  if (op == "broadcast_to") return emit_broadcast_to(n);
  if (op == "mean" || op == "sum" || op == "max" || op == "min" || op == "prod")
    return emit_reduce(n);
  if (op == "slice_update") return emit_slice_update(n);
  if (op == "reshape" || op == "transpose" || op == "concat" || op == "slice")
    return emit_shape_op(n);
  if (op == "dims" || op == "reshape_to" || op == "range" || op == "fill")
    return emit_run_time_shape(n);
  if (op == "softmax" || op == "log_softmax") return emit_softmax(n);
  if (op == "resize") return emit_resize(n);
  if (op == "grid_sample") return emit_grid_sample(n);
  if (op == "space_to_depth" || op == "depth_to_space") return emit_space_depth(n);
  if (op == "matmul") return emit_matmul(n);
  if (op == "layer_norm") return emit_layer_norm(n);
  if (op == "group_norm") return emit_group_norm(n);
  if (op == "gelu") return emit_gelu(n);
  if (op == "embedding") return emit_embedding(n);
  if (op == "lstm" || op == "gru") return emit_recurrent(n);
  if (op == "floor_mod") return emit_elementwise(n);
  if (op == "atan2") return emit_atan2(n);
  if (op == "cumsum" || op == "reverse") return emit_scan(n);
  if (op == "gather") return emit_gather(n);
  if (op == "scatter_nd") return emit_scatter_nd(n);
  if (op == "top_k") return emit_top_k(n);
  fail(n, "this op is not supported by the TFLite writer yet");
}

// A grouped convolution is one CONV_2D whose filter has Cin/groups input channels (version 6;
// the kernel infers the groups from the input's channels). With XNNPACK, LiteRT's default,
// that is 1.03-1.43x faster than a STRIDED_SLICE + CONV_2D per group + CONCATENATION on
// ResNeXt-50 and RegNet-Y-400MF blocks (bench/grouped_conv.py, docs/tflite.md); only
// LiteRT's own kernels without a delegate run the split form faster.
void Writer::emit_conv(const Node* n) {
  const Value *x = n->inputs[0], *k = n->inputs[1];
  const bool line = x->rank() == 3;  // 1-D: CONV_2D on [N, 1, W, C], reshaped around it
  if (x->rank() != 4 && !line) fail(n, "only 1-D, 2-D and 3-D convolutions are supported");
  Shape ks = k->physical_shape();  // HWIO [kh, kw, in/groups, out]
  if (line) ks.insert(ks.begin(), 1);
  const int64_t kh = ks[0], kw = ks[1], cin = ks[2], cout = ks[3];
  const int64_t groups = n->attrs.has("groups") ? n->attrs.get_int("groups") : 1;
  const int version = groups > 1 ? 6 : 1;
  auto strides = pair_attr(n, "strides", line), dil = pair_attr(n, "dilations", line);
  const Shape xs = line ? as_image(x->physical_shape()) : x->physical_shape();
  if (xs[3] != cin * groups) fail(n, "the input's channels do not match the kernel's groups");
  const int image =
      line ? reshaped(m_, tensor(x), xs, "tmp" + std::to_string(x->id) + "_image") : tensor(x);
  const Value* out = n->outputs[0];
  if (plain_output(out)) {
    // Nothing to fold: the filter comes straight from the weights (HWIO -> OHWI, computed
    // while the file is written), never copied here.
    Act act = fuse_activation(out, fb::BuiltinOperator_CONV_2D);
    int filter = line ? weights(n, k, {2, 0, 1}, "filter", {cout, kh, kw, cin}, kernel_axis(n, 0))
                      : weights(n, k, {3, 0, 1, 2}, "filter", {}, kernel_axis(n, 0));
    int bias = optional_bias(n, cout);
    int result = line ? temp(out, as_image(out->physical_shape()), "_image") : tensor(out);
    auto opts = fb::CreateConv2DOptions(m_.fbb(), padding_of(n), strides[1], strides[0], act,
                                        dil[1], dil[0]);
    m_.add_op(fb::BuiltinOperator_CONV_2D,
              m_.hybrid_version(filter, fb::BuiltinOperator_CONV_2D, version),
              {image, filter, bias}, {result}, fb::BuiltinOptions_Conv2DOptions, opts.Union());
    if (line) reshape(m_, result, tensor(out), n->scope + "/line_shape");
    return;
  }
  std::vector<float> kernel = float_data(n, k, "the kernel");
  std::vector<float> bias = bias_data(n, cout);
  fold_batch_norms(out, kernel, bias);
  const Node* hs = fold_hard_sigmoid(out, bias);
  Act act =
      hs ? fb::ActivationFunctionType_RELU6 : fuse_activation(out, fb::BuiltinOperator_CONV_2D);
  const Shape os = line ? as_image(out->physical_shape()) : out->physical_shape();
  // With a folded hard sigmoid the op computes relu6(y + 3), which is no graph value.
  const int result = line || hs ? temp(out, os, line ? "_image" : "_relu6") : tensor(out);
  std::vector<float> filter(kernel.size());
  for (int64_t o = 0; o < cout; ++o)  // HWIO -> OHWI
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t w = 0; w < kw; ++w)
        for (int64_t i = 0; i < cin; ++i)
          filter[((o * kh + h) * kw + w) * cin + i] = kernel[((h * kw + w) * cin + i) * cout + o];
  auto opts =
      fb::CreateConv2DOptions(m_.fbb(), padding_of(n), strides[1], strides[0], act, dil[1], dil[0]);
  const int f =
      floats(std::move(filter), {cout, kh, kw, cin}, n->scope + "/filter", kernel_axis(n, 0));
  m_.add_op(fb::BuiltinOperator_CONV_2D, m_.hybrid_version(f, fb::BuiltinOperator_CONV_2D, version),
            {image, f, floats(std::move(bias), {cout}, n->scope + "/bias")}, {result},
            fb::BuiltinOptions_Conv2DOptions, opts.Union());
  finish_line(n, out, hs, result, line);
}

void Writer::emit_depthwise(const Node* n) {
  const Value *x = n->inputs[0], *k = n->inputs[1];
  const bool line = x->rank() == 3;  // 1-D: as for conv
  if (x->rank() != 4 && !line)
    fail(n, "only 1-D, 2-D and 3-D depthwise convolutions are supported");
  Shape ks = k->physical_shape();  // [kh, kw, C, M]: output channel c*M + m, as TFLite's
  if (line) ks.insert(ks.begin(), 1);
  const Shape filter_shape{1, ks[0], ks[1], ks[2] * ks[3]};
  const Value* out = n->outputs[0];
  int in = line ? reshaped(m_, tensor(x), as_image(x->physical_shape()),
                           "tmp" + std::to_string(x->id) + "_image")
                : tensor(x);
  int filter = -1, b = -1;
  const Node* hs = nullptr;
  if (plain_output(out)) {
    // The same bytes in TFLite's shape. Depthwise kernels stay float32 with int8 weights:
    // XNNPACK takes no hybrid depthwise op, and leaving it out of the delegate cost
    // MobileNetV3-Large 1.68x float32's latency (16 partitions) against 0.80x with the
    // depthwise kernels float (bench/quantize.py), for 4% more bytes.
    filter = weights(n, k, {}, "filter", filter_shape);
    b = optional_bias(n, ks[2] * ks[3]);
  } else {
    std::vector<float> kernel = float_data(n, k, "the kernel");
    std::vector<float> bias = bias_data(n, ks[2] * ks[3]);
    fold_batch_norms(out, kernel, bias);
    hs = fold_hard_sigmoid(out, bias);
    filter = floats(std::move(kernel), filter_shape, n->scope + "/filter");
    b = floats(std::move(bias), {ks[2] * ks[3]}, n->scope + "/bias");
  }
  Act act = hs ? fb::ActivationFunctionType_RELU6
               : fuse_activation(out, fb::BuiltinOperator_DEPTHWISE_CONV_2D);
  auto strides = pair_attr(n, "strides", line), dil = pair_attr(n, "dilations", line);
  int version = dil[0] != 1 || dil[1] != 1 ? 2 : 1;
  auto opts = fb::CreateDepthwiseConv2DOptions(m_.fbb(), padding_of(n), strides[1], strides[0],
                                               static_cast<int32_t>(ks[3]), act, dil[1], dil[0]);
  const Shape os = line ? as_image(out->physical_shape()) : out->physical_shape();
  const int result = line || hs ? temp(out, os, line ? "_image" : "_relu6") : tensor(out);
  m_.add_op(fb::BuiltinOperator_DEPTHWISE_CONV_2D, version, {in, filter, b}, {result},
            fb::BuiltinOptions_DepthwiseConv2DOptions, opts.Union());
  finish_line(n, out, hs, result, line);
}

void Writer::finish_line(const Node* n, const Value* out, const Node* hs, int result, bool line) {
  if (!line) return finish_hard_sigmoid(hs, result);
  if (!hs) return reshape(m_, result, tensor(out), n->scope + "/line_shape");
  int flat = temp(out, out->physical_shape(), "_relu6");
  reshape(m_, result, flat, n->scope + "/line_shape");
  finish_hard_sigmoid(hs, flat);
}

void Writer::emit_dense(const Node* n) {
  const Value *x = n->inputs[0], *k = n->inputs[1];
  Shape ks = k->physical_shape();  // [in, out]
  const int64_t in = ks[0], outs = ks[1];
  const Value* out = n->outputs[0];
  bool keep = x->rank() > 2;  // keeps [B, T, out]; without it TFLite flattens to 2-D
  int input = tensor(x), w = -1, b = -1;
  const Node* hs = nullptr;
  if (plain_output(out)) {
    // [in, out] -> [out, in]: PyTorch's own layout, so the parameter's bytes are used as is.
    w = weights(n, k, {1, 0}, "weights", {}, kernel_axis(n, 0));
    b = optional_bias(n, outs);
  } else {
    std::vector<float> kernel = float_data(n, k, "the kernel");
    std::vector<float> bias = bias_data(n, outs);
    fold_batch_norms(out, kernel, bias);
    hs = fold_hard_sigmoid(out, bias);
    std::vector<float> transposed(kernel.size());  // [in, out] -> [out, in]
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < outs; ++o) transposed[o * in + i] = kernel[i * outs + o];
    w = floats(std::move(transposed), {outs, in}, n->scope + "/weights", kernel_axis(n, 0));
    b = floats(std::move(bias), {outs}, n->scope + "/bias");
  }
  Act act = hs ? fb::ActivationFunctionType_RELU6
               : fuse_activation(out, fb::BuiltinOperator_FULLY_CONNECTED);
  // A vector input ([In], an unbatched nn.Linear) comes out of FULLY_CONNECTED as [1, Out]:
  // RESHAPE it back to [Out].
  const bool vector = x->rank() == 1;
  int result = hs || vector ? temp(out, vector ? Shape{1, outs} : out->physical_shape(),
                                   vector ? "_row" : "_relu6")
                            : tensor(out);
  auto opts = fb::CreateFullyConnectedOptions(m_.fbb(), act, 0, keep);
  m_.add_op(fb::BuiltinOperator_FULLY_CONNECTED,
            m_.hybrid_version(w, fb::BuiltinOperator_FULLY_CONNECTED, keep ? 5 : 1), {input, w, b},
            {result}, fb::BuiltinOptions_FullyConnectedOptions, opts.Union());
  if (vector) {
    int flat = hs ? temp(out, out->physical_shape(), "_relu6") : tensor(out);
    reshape(m_, result, flat, n->scope + "/vector_shape");
    result = flat;
  }
  finish_hard_sigmoid(hs, result);
}

// A batch norm with nothing to fold into: x * scale + shift, broadcast along its axis.
void Writer::emit_batch_norm(const Node* n) {
  const Value* x = n->inputs[0];
  int64_t rank = static_cast<int64_t>(x->rank()), axis = n->attrs.get_int("axis");
  if (axis < 0) axis += rank;
  auto gamma = float_data(n, n->inputs[1], "gamma"), beta = float_data(n, n->inputs[2], "beta"),
       mean = float_data(n, n->inputs[3], "the mean"),
       var = float_data(n, n->inputs[4], "the variance");
  double eps = n->attrs.get_float("epsilon");
  std::vector<float> scale(gamma.size()), shift(gamma.size());
  for (size_t c = 0; c < gamma.size(); ++c) {
    double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    scale[c] = static_cast<float>(s);
    shift[c] = static_cast<float>(beta[c] - mean[c] * s);
  }
  Shape cs(rank - axis, 1);
  cs[0] = static_cast<int64_t>(gamma.size());
  const Value* out = n->outputs[0];
  Act act = fuse_activation(out, fb::BuiltinOperator_ADD);
  int scaled = temp(x, x->physical_shape(), "_scaled");
  auto mul = fb::CreateMulOptions(m_.fbb());
  m_.add_op(fb::BuiltinOperator_MUL, 1, {tensor(x), floats(scale, cs, n->scope + "/scale")},
            {scaled}, fb::BuiltinOptions_MulOptions, mul.Union());
  auto add = fb::CreateAddOptions(m_.fbb(), act);
  m_.add_op(fb::BuiltinOperator_ADD, 1, {scaled, floats(shift, cs, n->scope + "/shift")},
            {tensor(out)}, fb::BuiltinOptions_AddOptions, add.Union());
}

void Writer::emit_unary(const Node* n) {
  const Value* x = n->inputs[0];
  const std::string& op = n->op;
  int in = tensor(x), out = tensor(n->outputs[0]);
  auto simple = [&](fb::BuiltinOperator code) { m_.add_op(code, 1, {in}, {out}); };
  if (op == "relu") return simple(fb::BuiltinOperator_RELU);
  if (op == "relu6") return simple(fb::BuiltinOperator_RELU6);
  if (op == "sigmoid") return simple(fb::BuiltinOperator_LOGISTIC);
  if (op == "tanh") return simple(fb::BuiltinOperator_TANH);
  if (op == "hard_swish") return simple(fb::BuiltinOperator_HARD_SWISH);
  if (x->dtype != DType::kFloat32) fail(n, "only float32 is supported");
  if (op == "clip") {
    Act act = activation_of(n);
    if (act == fb::ActivationFunctionType_RELU) return simple(fb::BuiltinOperator_RELU);
    if (act == fb::ActivationFunctionType_RELU6) return simple(fb::BuiltinOperator_RELU6);
    if (act == fb::ActivationFunctionType_RELU_N1_TO_1)
      return simple(fb::BuiltinOperator_RELU_N1_TO_1);
    bool lo = !n->attrs.is_none("min"), hi = !n->attrs.is_none("max");
    int cur = in;
    if (lo) {
      int next = hi ? temp(x, x->physical_shape(), "_lo") : out;
      add_op(fb::BuiltinOperator_MAXIMUM,
             {cur, m_.add_float_scalar(n->attrs.get_float("min"), n->scope + "/min")}, {next});
      cur = next;
    }
    if (hi)
      add_op(fb::BuiltinOperator_MINIMUM,
             {cur, m_.add_float_scalar(n->attrs.get_float("max"), n->scope + "/max")}, {out});
    if (!lo && !hi) fail(n, "clip without bounds");
    return;
  }
  if (op == "silu") {  // x * sigmoid(x)
    int s = temp(x, x->physical_shape(), "_sigmoid");
    m_.add_op(fb::BuiltinOperator_LOGISTIC, 1, {in}, {s});
    m_.add_op(fb::BuiltinOperator_MUL, 1, {in, s}, {out}, fb::BuiltinOptions_MulOptions,
              fb::CreateMulOptions(m_.fbb()).Union());
    return;
  }
  // hard_sigmoid: no builtin; relu6(x + 3) * (1/6), the RELU6 fused into the ADD.
  int shifted = temp(x, x->physical_shape(), "_plus3");
  m_.add_op(fb::BuiltinOperator_ADD, 1, {in, m_.add_float_scalar(3.0f, "three")}, {shifted},
            fb::BuiltinOptions_AddOptions,
            fb::CreateAddOptions(m_.fbb(), fb::ActivationFunctionType_RELU6).Union());
  m_.add_op(fb::BuiltinOperator_MUL, 1, {shifted, m_.add_float_scalar(1.0f / 6.0f, "one_sixth")},
            {out}, fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(m_.fbb()).Union());
}

void Writer::emit_pad(const Node* n) {
  const Value* x = n->inputs[0];
  if (x->rank() > 5) fail(n, "PAD / PADV2 take at most 5 dimensions");
  if (x->dtype == DType::kBool) fail(n, "padding bool tensors is not supported");
  auto pads = to_i32(n->attrs.get_ints("pads"));
  // PAD, PADV2 and MIRROR_PAD reject negative pads: the core writes crops as slices.
  for (int32_t p : pads)
    if (p < 0) fail(n, "negative pads (crops) reach the writer as slices, not pads");
  if (n->attrs.get_string("mode") != "CONSTANT") return emit_edge_pad(n);
  int paddings = m_.add_int32(pads, {static_cast<int64_t>(x->rank()), 2}, n->scope + "/paddings");
  double value = n->attrs.has("value") ? n->attrs.get_float("value") : 0.0;
  int in = tensor(x), out = tensor(n->outputs[0]);
  if (value == 0.0) {
    add_op(fb::BuiltinOperator_PAD, {in, paddings}, {out}, fb::BuiltinOptions_PadOptions,
           fb::CreatePadOptions(m_.fbb()).Union());
    return;
  }
  // Non-zero fill (-inf before a max pool): PADV2 with a scalar of the input's type.
  if (x->dtype != DType::kFloat32) fail(n, "non-zero padding is supported for float32 only");
  add_op(fb::BuiltinOperator_PADV2,
         {in, paddings, m_.add_float_scalar(static_cast<float>(value), n->scope + "/fill")}, {out},
         fb::BuiltinOptions_PadV2Options, fb::CreatePadV2Options(m_.fbb()).Union());
}

void Writer::emit_pool(const Node* n, fb::BuiltinOperator code) {
  const Value* x = n->inputs[0];
  if (x->rank() == 5) return emit_pool3d(n, code);
  const bool line = x->rank() == 3;  // 1-D: the 2-D pool on [N, 1, W, C]
  if (x->rank() != 4 && !line) fail(n, "only 1-D, 2-D and 3-D pooling are supported");
  if (x->dtype != DType::kFloat32) fail(n, "only float32 pooling is supported");
  auto size = pair_attr(n, "pool_size", line), strides = pair_attr(n, "strides", line);
  int in = line ? reshaped(m_, tensor(x), as_image(x->physical_shape()),
                           "tmp" + std::to_string(x->id) + "_image")
                : tensor(x);
  const Value* out = n->outputs[0];
  Act act = fuse_activation(out, code);
  int result = line ? temp(out, as_image(out->physical_shape()), "_image") : tensor(out);
  auto opts = fb::CreatePool2DOptions(m_.fbb(), padding_of(n), strides[1], strides[0], size[1],
                                      size[0], act);
  m_.add_op(code, 1, {in}, {result}, fb::BuiltinOptions_Pool2DOptions, opts.Union());
  if (line) reshape(m_, result, tensor(out), n->scope + "/line_shape");
}

void Writer::emit_shape_op(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string& op = n->op;
  auto& f = m_.fbb();
  int64_t rank = static_cast<int64_t>(x->rank());
  auto vec = [&](const std::vector<int64_t>& v, const std::string& what) {
    return m_.add_int32(to_i32(v), {static_cast<int64_t>(v.size())}, n->scope + "/" + what);
  };
  if (op == "reshape") {
    // The target is the output's physical shape, -1 at its free size if it has one.
    int in = tensor(x), shape = vec(out->reshape_target(), "shape");
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {in, shape}, {tensor(out)});
  } else if (op == "transpose") {
    int in = tensor(x), perm = vec(n->attrs.get_ints("perm"), "perm");
    add_op(fb::BuiltinOperator_TRANSPOSE, {in, perm}, {tensor(out)},
           fb::BuiltinOptions_TransposeOptions, fb::CreateTransposeOptions(f).Union());
  } else if (op == "concat") {
    int64_t axis = n->attrs.get_int("axis");
    std::vector<int32_t> ins;
    for (const Value* v : n->inputs) ins.push_back(tensor(v));
    add_op(fb::BuiltinOperator_CONCATENATION, ins, {tensor(out)},
           fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(f, static_cast<int32_t>(axis < 0 ? axis + rank : axis))
               .Union());
  } else if (op == "slice") {
    if (rank > 5) fail(n, "STRIDED_SLICE is specified for at most 5 dimensions (version 4)");
    // Free sizes: a bound read at run time comes from an int32 [1] input; the vector is the
    // CONCATENATION of those and of the fixed bounds between them.
    auto bounds = [&](const std::string& what) {
      const std::vector<int64_t> values = n->attrs.get_ints(what);
      const std::string from_name = what + "_from";
      if (!n->attrs.has(from_name)) return vec(values, what);
      const std::vector<int64_t> from = n->attrs.get_ints(from_name);
      if (from.size() != values.size()) fail(n, from_name + " does not match the rank");
      std::vector<int32_t> pieces;
      std::vector<int64_t> fixed;
      auto flush = [&] {
        if (fixed.empty()) return;
        pieces.push_back(vec(fixed, what + std::to_string(pieces.size())));
        fixed.clear();
      };
      for (size_t d = 0; d < values.size(); ++d) {
        if (from[d] < 0) {
          fixed.push_back(values[d]);
          continue;
        }
        if (from[d] >= static_cast<int64_t>(n->inputs.size())) fail(n, "a bound input is missing");
        flush();
        pieces.push_back(tensor(n->inputs[static_cast<size_t>(from[d])]));
      }
      flush();
      if (pieces.size() == 1) return pieces.front();
      int joined = m_.add_tensor(fb::TensorType_INT32, {static_cast<int64_t>(values.size())},
                                 n->scope + "/" + what);
      add_op(fb::BuiltinOperator_CONCATENATION, pieces, {joined},
             fb::BuiltinOptions_ConcatenationOptions, fb::CreateConcatenationOptions(f, 0).Union());
      return joined;
    };
    int in = tensor(x), begin = bounds("begin"), end = bounds("end"),
        strides = vec(n->attrs.get_ints("strides"), "strides");
    add_op(fb::BuiltinOperator_STRIDED_SLICE, {in, begin, end, strides}, {tensor(out)},
           fb::BuiltinOptions_StridedSliceOptions, fb::CreateStridedSliceOptions(f).Union());
  }
}

// Free sizes: `dims` reads sizes at run time (SHAPE, then GATHER of the wanted axes, already in
// the tensor's physical order), and `reshape_to` takes its target as a tensor.
void Writer::emit_run_time_shape(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  if (n->op == "reshape_to") {
    if (n->inputs.size() != 2) fail(n, "reshape_to takes x and a shape");
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {tensor(x), tensor(n->inputs[1])}, {tensor(out)});
    return;
  }
  if (n->op == "range") {
    if (n->inputs.size() != 3 || out->dtype != DType::kInt32)
      fail(n, "range takes 3 int32 scalars");
    m_.add_op(fb::BuiltinOperator_RANGE, 1, {tensor(x), tensor(n->inputs[1]), tensor(n->inputs[2])},
              {tensor(out)});
    return;
  }
  if (n->op == "fill") {
    if (n->inputs.size() != 2) fail(n, "fill takes dims and a value");
    m_.add_op(fb::BuiltinOperator_FILL, 1, {tensor(x), tensor(n->inputs[1])}, {tensor(out)});
    return;
  }
  std::vector<int64_t> axes = n->attrs.get_ints("axes");
  const int64_t rank = static_cast<int64_t>(x->rank());
  std::vector<int32_t> gather;
  for (int64_t a : axes) {
    if (a < 0 || a >= rank) fail(n, "an axis out of range");
    gather.push_back(static_cast<int32_t>(a));
  }
  const std::string scope = n->scope.empty() ? "dims" : n->scope + "/dims";
  int shape = m_.add_tensor(fb::TensorType_INT32, {rank}, scope + "/shape");
  add_op(fb::BuiltinOperator_SHAPE, {tensor(x)}, {shape}, fb::BuiltinOptions_ShapeOptions,
         fb::CreateShapeOptions(m_.fbb(), fb::TensorType_INT32).Union());
  int indices = m_.add_int32(gather, {static_cast<int64_t>(gather.size())}, scope + "/axes");
  add_op(fb::BuiltinOperator_GATHER, {shape, indices}, {tensor(out)},
         fb::BuiltinOptions_GatherOptions, fb::CreateGatherOptions(m_.fbb(), 0).Union());
}

}  // namespace ferry::tflite::detail
