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

  Value* x = with_batch_dim(ctx, ctx.in("input"), nsp, name);
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
  Value* b = bias ? ctx.constant(bias->constant, Layout::kFixed) : nullptr;
  Value* y = ctx.emit(op, {x, k, b}, std::move(attrs), ctx.torch_output().dtype, out_shape);
  set_output_reshaped(ctx, y);
}

}  // namespace

void register_conv_rules(Registry& registry) {
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
