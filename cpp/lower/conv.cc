// Convolutions. PyTorch pads with zeros on both sides by the same amount; TF knows only VALID
// and SAME. SAME is used only where it is exactly PyTorch's padding (stride 1, where TF's split
// of the total padding does not depend on the input size); anything else becomes an explicit
// `pad` before a VALID convolution, so results never depend on TF's padding rules.
#include <algorithm>
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "x" : "") + std::to_string(v[i]);
  return out;
}

struct Padding {
  std::vector<int64_t> before, after;
  bool same = false;  // use TF's SAME instead of before/after
};

// PyTorch pads `padding` zeros on each side; "same" puts the odd element of the total at the
// end, which is also where TF's SAME puts it, so both spellings can map to SAME at stride 1.
Padding conv_padding(const Attrs& a, const std::string& name, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  const size_t n = kernel.size();
  Padding p{std::vector<int64_t>(n, 0), std::vector<int64_t>(n, 0)};
  const bool unit_strides =
      std::all_of(strides.begin(), strides.end(), [](int64_t s) { return s == 1; });
  if (!a.is_none("padding") && std::holds_alternative<std::string>(a.at("padding"))) {
    const std::string& mode = a.get_string("padding");
    if (mode == "valid") return p;
    if (mode != "same") throw LowerError(name + " with padding='" + mode + "' is not supported");
    if (!unit_strides) throw LowerError(name + " with padding='same' needs stride 1");
    for (size_t i = 0; i < n; ++i) {
      const int64_t total = dilations[i] * (kernel[i] - 1);
      p.before[i] = total / 2;
      p.after[i] = total - total / 2;
    }
  } else {
    p.before = expand_ints(a, "padding", n, 0);
    p.after = p.before;
  }
  bool any = false;
  bool same = unit_strides;
  for (size_t i = 0; i < n; ++i) {
    const int64_t total = dilations[i] * (kernel[i] - 1);
    any = any || p.before[i] != 0 || p.after[i] != 0;
    same = same && p.before[i] == total / 2 && p.after[i] == total - total / 2;
  }
  p.same = any && same;
  return p;
}

// A transposed convolution becomes `conv_transpose` (the full output, no padding) with a
// kernel that already holds dilation (zeros between the taps) and groups (block-diagonal over
// the channels), both exact; PyTorch's `padding` then crops `padding` from both ends of the
// full output and `output_padding` extends the end again (by zeros plus the bias where it
// reaches past the full output).
void lower_conv_transpose(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  if (has_free_dims(ctx.in("input")->sym)) {
    throw LowerError("a transposed convolution cannot take a free size yet");
  }
  Value* w = ctx.in("weight");
  if (w->rank() < 3 || w->rank() > 5) {
    throw LowerError("transposed convolution weight of rank " + std::to_string(w->rank()) +
                     " is not supported (1, 2 or 3 spatial dims)");
  }
  const size_t nsp = w->rank() - 2;
  const std::string name = "conv_transpose" + std::to_string(nsp) + "d";
  if (!w->is_constant() || w->dtype != DType::kFloat32) {
    throw LowerError(name + ": only a constant float32 weight (a parameter or buffer) is " +
                     "supported");
  }
  Value* bias = ctx.in_opt("bias");
  if (bias && !bias->is_constant()) {
    throw LowerError(name + ": the bias is computed at run time; only a constant bias is " +
                     "supported");
  }
  if (!a.is_none("padding") && std::holds_alternative<std::string>(a.at("padding"))) {
    throw LowerError(name + " with padding='" + a.get_string("padding") + "' is not supported");
  }
  Value* x = with_batch_dim(ctx, ctx.in("input"), nsp, name);
  const int64_t groups = !a.has("groups") || a.is_none("groups") ? 1 : a.get_int("groups");
  const int64_t cin = x->shape[1];
  if (groups < 1 || w->shape[0] != cin || cin % groups != 0) {
    throw LowerError(name + ": weight " + join(w->shape) +
                     " with groups=" + std::to_string(groups) + " does not fit an input with " +
                     std::to_string(cin) + " channels");
  }
  const int64_t cin_g = cin / groups, cout_g = w->shape[1], cout = cout_g * groups;
  const std::vector<int64_t> kernel(w->shape.begin() + 2, w->shape.end());
  const auto strides = expand_ints(a, "stride", nsp, 1);
  const auto dilations = expand_ints(a, "dilation", nsp, 1);
  const auto padding = expand_ints(a, "padding", nsp, 0);
  const auto output_padding = expand_ints(a, "output_padding", nsp, 0);

  // The dilated, block-diagonal kernel [*k', Cout, Cin] (Keras' transposed-conv layout).
  Shape ks;
  for (size_t i = 0; i < nsp; ++i) ks.push_back(dilations[i] * (kernel[i] - 1) + 1);
  Shape kshape = ks;
  kshape.push_back(cout);
  kshape.push_back(cin);
  auto data = std::make_shared<TensorData>(DType::kFloat32, kshape);
  float* dst = data->mutable_as<float>();
  const float* src = w->constant->as<float>();
  int64_t taps = 1;
  for (int64_t k : kernel) taps *= k;
  for (int64_t t = 0; t < taps; ++t) {
    int64_t rest = t, offset = 0;  // the tap's flat position in the dilated kernel
    std::vector<int64_t> tap(nsp);
    for (size_t i = nsp; i-- > 0;) {
      tap[i] = rest % kernel[i];
      rest /= kernel[i];
    }
    for (size_t i = 0; i < nsp; ++i) offset = offset * ks[i] + tap[i] * dilations[i];
    for (int64_t ci = 0; ci < cin; ++ci) {
      const int64_t g = ci / cin_g;
      for (int64_t o = 0; o < cout_g; ++o) {
        dst[(offset * cout + g * cout_g + o) * cin + ci] = src[(ci * cout_g + o) * taps + t];
      }
    }
  }

  Shape full = {x->shape[0], cout};
  std::vector<int64_t> begins(nsp + 2, 0), ends(nsp + 2), pads(2 * (nsp + 2), 0);
  ends[0] = x->shape[0];
  ends[1] = cout;
  bool tail = false;
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t size = (x->shape[i + 2] - 1) * strides[i] + ks[i];
    const int64_t length = size - 2 * padding[i] + output_padding[i];
    if (padding[i] < 0 || output_padding[i] < 0 || length < 1) {
      throw LowerError(name + ": padding " + join(padding) + " with output_padding " +
                       join(output_padding) + " leaves no output");
    }
    full.push_back(size);
    begins[i + 2] = padding[i];
    ends[i + 2] = std::min(size, padding[i] + length);
    pads[2 * (i + 2) + 1] = padding[i] + length - ends[i + 2];
    tail = tail || pads[2 * (i + 2) + 1] > 0;
  }
  Attrs attrs;
  attrs.set("strides", strides);
  Value* k = ctx.constant(data, Layout::kFixed);
  Value* b = bias && !tail ? ctx.constant(bias->constant, Layout::kFixed) : nullptr;
  Value* y = ctx.emit("conv_transpose", {x, k, b}, std::move(attrs), DType::kFloat32, full);
  if (begins != std::vector<int64_t>(nsp + 2, 0) || Shape(ends) != full) {
    Shape cropped;
    for (size_t i = 0; i < nsp + 2; ++i) cropped.push_back(ends[i] - begins[i]);
    Attrs slice;
    slice.set("begin", begins);
    slice.set("end", ends);
    slice.set("strides", std::vector<int64_t>(nsp + 2, 1));
    y = ctx.emit("slice", {y}, std::move(slice), DType::kFloat32, cropped);
  }
  if (tail) {
    y = emit_constant_pad(ctx, y, pads, 0.0);
    if (bias) {
      Shape bs(nsp + 1, 1);
      bs[0] = cout;
      Value* bc = ctx.constant(bias->constant->reshaped(bs));
      y = ctx.emit("add", {y, bc}, {}, DType::kFloat32, y->shape);
    }
  }
  set_output_reshaped(ctx, y);
}

void lower_conv(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  if (a.has("transposed") && a.get_bool("transposed")) return lower_conv_transpose(ctx);
  Value* w = ctx.in("weight");
  if (w->rank() < 3 || w->rank() > 5) {
    throw LowerError("convolution weight of rank " + std::to_string(w->rank()) +
                     " is not supported (1, 2 or 3 spatial dims)");
  }
  const size_t nsp = w->rank() - 2;
  const std::string name = "conv" + std::to_string(nsp) + "d";
  if (a.has("padding_mode") && !a.is_none("padding_mode") &&
      a.get_string("padding_mode") != "zeros") {
    throw LowerError(name + " with padding_mode='" + a.get_string("padding_mode") +
                     "' is not supported yet");
  }
  if (!w->is_constant()) {
    throw LowerError(name + ": the weight is computed at run time; only constant weights " +
                     "(parameters and buffers) are supported");
  }
  Value* bias = ctx.in_opt("bias");
  if (bias && !bias->is_constant()) {
    throw LowerError(name + ": the bias is computed at run time; only a constant bias is " +
                     "supported");
  }

  Value* input = ctx.in("input");
  if (has_free_dims(input->sym) && input->rank() == nsp + 1) {
    throw LowerError(name + " of an unbatched input cannot take a free size yet");
  }
  Value* x = with_batch_dim(ctx, input, nsp, name);
  const int64_t groups = a.is_none("groups") ? 1 : a.get_int("groups");
  const int64_t cin = x->shape[1];
  const int64_t cout = w->shape[0];
  if (groups < 1 || w->shape[1] * groups != cin || cout % groups != 0) {
    throw LowerError(name + ": weight " + join(w->shape) +
                     " with groups=" + std::to_string(groups) + " does not fit an input with " +
                     std::to_string(cin) + " channels");
  }
  const std::vector<int64_t> kernel(w->shape.begin() + 2, w->shape.end());
  const auto strides = expand_ints(a, "stride", nsp, 1);
  const auto dilations = expand_ints(a, "dilation", nsp, 1);
  const Padding pad = conv_padding(a, name, kernel, strides, dilations);

  if (!pad.same) {
    std::vector<int64_t> pads(2 * x->rank(), 0);
    for (size_t i = 0; i < nsp; ++i) {
      pads[2 * (i + 2)] = pad.before[i];
      pads[2 * (i + 2) + 1] = pad.after[i];
    }
    x = emit_constant_pad(ctx, x, pads, 0.0);
  }

  Shape out_shape = {x->shape[0], cout};
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t size = x->shape[i + 2];
    const int64_t span = dilations[i] * (kernel[i] - 1) + 1;
    out_shape.push_back(pad.same ? size : (size - span) / strides[i] + 1);
  }

  Shape expected = ctx.torch_output().shape;
  if (expected.size() == nsp + 1) expected.insert(expected.begin(), 1);
  if (out_shape != expected) {
    throw LowerError("internal: " + name + " output " + join(out_shape) +
                     " differs from PyTorch's " + join(expected));
  }

  // PyTorch kernels are [Cout, Cin/groups, *k]; TF wants the spatial dims first.
  std::vector<int64_t> perm;
  for (size_t i = 0; i < nsp; ++i) perm.push_back(static_cast<int64_t>(i + 2));
  Attrs attrs;
  attrs.set("strides", strides);
  attrs.set("dilations", dilations);
  std::string op;
  std::shared_ptr<const TensorData> kernel_data;
  if (groups > 1 && groups == cin) {
    // Group c produces outputs c*M .. c*M+M-1, which is depthwise_conv's c*M + m: viewing the
    // kernel as [C, M, *k] and moving C, M last gives [*k, C, M].
    op = "depthwise_conv";
    Shape split = {cin, cout / cin};
    split.insert(split.end(), kernel.begin(), kernel.end());
    perm.push_back(0);
    perm.push_back(1);
    kernel_data = w->constant->reshaped(split)->permuted(perm);
  } else {
    op = "conv";
    perm.push_back(1);
    perm.push_back(0);
    kernel_data = w->constant->permuted(perm);
    attrs.set("groups", groups);
  }
  attrs.set("padding", std::string(pad.same ? "SAME" : "VALID"));
  Value* k = ctx.constant(kernel_data, Layout::kFixed);
  k->origin = w->origin;  // PyTorch's weight: an imported quantized model's scales follow it
  Value* b = bias ? ctx.constant(bias->constant, Layout::kFixed) : nullptr;
  Value* y = ctx.emit(op, {x, k, b}, std::move(attrs), ctx.torch_output().dtype, out_shape,
                      ctx.torch_output().sym);
  set_output_reshaped(ctx, y);
}

// F.unfold (im2col): per kernel tap a strided `slice` of the padded input ([N, C, oh, ow]),
// viewed as [N, C, 1, oh*ow]; the taps concatenated on that axis and viewed as
// [N, C*kh*kw, oh*ow] give PyTorch's channel order c*kh*kw + i*kw + j. Only data movement,
// so exact for every value (a one-hot convolution would turn an infinity into NaN).
void lower_unfold(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* in = ctx.in(self_arg(ctx));
  if (in->rank() != 3 && in->rank() != 4) {
    throw LowerError("unfold needs a 4-D [N, C, H, W] (or unbatched 3-D) input, got rank " +
                     std::to_string(in->rank()));
  }
  const bool batched = in->rank() == 4;
  Value* x = with_batch_dim(ctx, in, 2, "unfold");
  const auto kernel = expand_ints(a, "kernel_size", 2, 1);
  const auto dilation = expand_ints(a, "dilation", 2, 1);
  const auto padding = expand_ints(a, "padding", 2, 0);
  const auto stride = expand_ints(a, "stride", 2, 1);
  const int64_t n = x->shape[0], c = x->shape[1];
  x = emit_constant_pad(ctx, x, {0, 0, 0, 0, padding[0], padding[0], padding[1], padding[1]}, 0.0);
  int64_t out[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t span = dilation[i] * (kernel[i] - 1) + 1;
    if (kernel[i] < 1 || stride[i] < 1 || dilation[i] < 1 || x->shape[i + 2] < span) {
      throw LowerError("unfold: kernel_size " + join(kernel) + ", dilation " + join(dilation) +
                       " and stride " + join(stride) + " do not fit the padded input " +
                       join(x->shape));
    }
    out[i] = (x->shape[i + 2] - span) / stride[i] + 1;
  }
  std::vector<Value*> taps;
  for (int64_t i = 0; i < kernel[0]; ++i) {
    for (int64_t j = 0; j < kernel[1]; ++j) {
      const int64_t h0 = i * dilation[0], w0 = j * dilation[1];
      Attrs slice;
      slice.set("begin", std::vector<int64_t>{0, 0, h0, w0});
      slice.set("end", std::vector<int64_t>{n, c, h0 + (out[0] - 1) * stride[0] + 1,
                                            w0 + (out[1] - 1) * stride[1] + 1});
      slice.set("strides", std::vector<int64_t>{1, 1, stride[0], stride[1]});
      Value* t = ctx.emit("slice", {x}, std::move(slice), x->dtype, {n, c, out[0], out[1]});
      taps.push_back(emit_reshape(ctx, t, {n, c, 1, out[0] * out[1]}));
    }
  }
  Value* y = taps[0];
  if (taps.size() > 1) {
    Attrs cat;
    cat.set("axis", int64_t{2});
    y = ctx.emit("concat", taps, std::move(cat), x->dtype,
                 {n, c, static_cast<int64_t>(taps.size()), out[0] * out[1]});
  }
  Shape shape = {n, c * kernel[0] * kernel[1], out[0] * out[1]};
  if (!batched) shape.erase(shape.begin());
  ctx.set_output(0, emit_reshape(ctx, y, shape));
}

// F.fold (col2im): every kernel tap's column block ([N*C, oh, ow]) is spread to its strided
// positions in the padded image (zeros interleaved by a pad of [.., oh, 1, ow, 1] to the
// strides, then a pad to the tap's offset) and the taps are added in PyTorch's order (tap by
// tap, i then j), which is the order its col2im adds them in: additions of the interleaved
// zeros are exact, so the result is PyTorch's bit for bit. Finally `padding` is cropped.
void lower_fold(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* in = ctx.in(self_arg(ctx));
  if (in->rank() != 2 && in->rank() != 3) {
    throw LowerError("fold needs a 3-D [N, C*kh*kw, L] (or unbatched 2-D) input, got rank " +
                     std::to_string(in->rank()));
  }
  const bool batched = in->rank() == 3;
  const auto size = expand_ints(a, "output_size", 2, 1);
  const auto kernel = expand_ints(a, "kernel_size", 2, 1);
  const auto dilation = expand_ints(a, "dilation", 2, 1);
  const auto padding = expand_ints(a, "padding", 2, 0);
  const auto stride = expand_ints(a, "stride", 2, 1);
  const int64_t n = batched ? in->shape[0] : 1, rows = in->shape[batched ? 1 : 0],
                length = in->shape[batched ? 2 : 1], taps = kernel[0] * kernel[1];
  int64_t out[2], padded[2];
  for (int i = 0; i < 2; ++i) {
    padded[i] = size[i] + 2 * padding[i];
    out[i] = (padded[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1;
  }
  if (taps < 1 || rows % taps != 0 || out[0] < 1 || out[1] < 1 || out[0] * out[1] != length) {
    throw LowerError("fold: an input " + join(in->shape) + " does not fit output_size " +
                     join(size) + ", kernel_size " + join(kernel) + ", dilation " + join(dilation) +
                     ", padding " + join(padding) + " and stride " + join(stride));
  }
  const int64_t m = n * (rows / taps);  // batch and channels together
  Value* cols = emit_reshape(ctx, in, {m, taps, out[0], out[1]});
  Value* sum = nullptr;
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t i = t / kernel[1], j = t % kernel[1];
    Value* piece = emit_axis_slice(ctx, cols, 1, t, t + 1);
    int64_t span[2] = {out[0], out[1]};
    if (stride[0] > 1 || stride[1] > 1) {
      piece = emit_reshape(ctx, piece, {m, out[0], 1, out[1], 1});
      piece = emit_constant_pad(ctx, piece, {0, 0, 0, 0, 0, stride[0] - 1, 0, 0, 0, stride[1] - 1},
                                0.0);
      piece = emit_reshape(ctx, piece, {m, out[0] * stride[0], out[1] * stride[1]});
      for (int k = 0; k < 2; ++k) span[k] = (out[k] - 1) * stride[k] + 1;
      piece = emit_axis_slice(ctx, piece, 1, 0, span[0]);
      piece = emit_axis_slice(ctx, piece, 2, 0, span[1]);
    } else {
      piece = emit_reshape(ctx, piece, {m, out[0], out[1]});
    }
    const int64_t top = i * dilation[0], left = j * dilation[1];
    piece = emit_constant_pad(
        ctx, piece, {0, 0, top, padded[0] - top - span[0], left, padded[1] - left - span[1]}, 0.0);
    sum = sum ? ctx.emit("add", {sum, piece}, {}, piece->dtype, piece->shape) : piece;
  }
  sum = emit_axis_slice(ctx, sum, 1, padding[0], padding[0] + size[0]);
  sum = emit_axis_slice(ctx, sum, 2, padding[1], padding[1] + size[1]);
  Shape shape = {n, rows / taps, size[0], size[1]};
  if (!batched) shape.erase(shape.begin());
  ctx.set_output(0, emit_reshape(ctx, sum, shape));
}

}  // namespace

void register_conv_rules(Registry& registry) {
  Rule fold;
  fold.ops = {"torch.nn.functional.fold", "aten.col2im.default"};
  fold.lower = lower_fold;
  fold.mapping = "per kernel tap: slice, pad (strides, offset), add; slice + reshape";
  registry.add(std::move(fold));

  Rule unfold;
  // Not aten.unfold: that is Tensor.unfold(dim, size, step), another operation.
  unfold.ops = {"torch.nn.functional.unfold", "aten.im2col.default"};
  unfold.lower = lower_unfold;
  unfold.mapping = "pad + slice per kernel tap + concat + reshape";
  registry.add(std::move(unfold));

  Rule conv;
  for (int n = 1; n <= 3; ++n) {
    const std::string name = "conv" + std::to_string(n) + "d";
    for (auto& op : function_aliases(name, true, false, true)) conv.ops.push_back(op);
    conv.ops.push_back("aten." + name + ".padding");
  }
  conv.ops.push_back("aten.convolution.default");
  conv.ops.push_back("aten._convolution.default");
  conv.lower = lower_conv;
  conv.mapping = "conv / depthwise_conv (+ pad); transposed: conv_transpose (+ slice, pad)";
  conv.free_sizes = true;  // a transposed convolution refuses them in lower_conv_transpose
  registry.add(std::move(conv));

  Rule transposed;
  for (int n = 1; n <= 3; ++n) {
    const std::string name = "conv_transpose" + std::to_string(n) + "d";
    for (auto& op : function_aliases(name, true, false, true)) transposed.ops.push_back(op);
    transposed.ops.push_back("aten." + name + ".input");
  }
  transposed.lower = lower_conv_transpose;
  transposed.mapping = "conv_transpose (+ slice, pad)";
  registry.add(std::move(transposed));
}

}  // namespace ferry
