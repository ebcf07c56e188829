// Pooling. TF pools take no padding beyond SAME, so PyTorch's padding is an explicit `pad`
// before a VALID pool: -inf for max (padding never wins), zeros for average (then rescaled
// where PyTorch leaves the padding out of the divisor).
#include <algorithm>
#include <limits>
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

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's pooling output size. With ceil_mode a last, partial window is kept only if it
// starts inside the input or the left padding.
int64_t pooled_size(int64_t size, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = size + 2 * p - k;
  int64_t out = floor_div(span + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= size + p) --out;
  return out;
}

struct Window {
  std::string name;  // e.g. "max_pool2d", for messages
  std::vector<int64_t> kernel, strides, padding;
  bool ceil_mode = false;
};

Window read_window(const Attrs& a, size_t nsp, std::string name) {
  Window w;
  w.name = std::move(name);
  w.kernel = expand_ints(a, "kernel_size", nsp, 1);
  // torch.max_pool2d and aten spell "same as the kernel" as an empty list, F.* as None.
  const bool no_stride = a.is_none("stride") || a.get_ints("stride").empty();
  w.strides = no_stride ? w.kernel : expand_ints(a, "stride", nsp, 1);
  w.padding = expand_ints(a, "padding", nsp, 0);
  w.ceil_mode = a.has("ceil_mode") && a.get_bool("ceil_mode");
  for (size_t i = 0; i < nsp; ++i) {
    if (w.padding[i] * 2 > w.kernel[i]) {
      throw LowerError(w.name + ": padding must be at most half the kernel size");
    }
  }
  return w;
}

std::shared_ptr<TensorData> float_tensor(DType dtype, Shape shape,
                                         const std::vector<double>& values) {
  auto data = std::make_shared<TensorData>(dtype, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) {
      data->mutable_as<float>()[i] = static_cast<float>(values[i]);
    } else if (dtype == DType::kFloat64) {
      data->mutable_as<double>()[i] = values[i];
    } else {
      throw LowerError("average pooling of " + std::string(dtype_name(dtype)) +
                       " tensors with this padding is not supported");
    }
  }
  return data;
}

Value* emit_pool(LowerContext& ctx, const std::string& op, Value* x,
                 const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides) {
  Shape shape = {x->shape[0], x->shape[1]};
  for (size_t i = 0; i < kernel.size(); ++i) {
    shape.push_back((x->shape[i + 2] - kernel[i]) / strides[i] + 1);
  }
  Attrs attrs;
  attrs.set("pool_size", kernel);
  attrs.set("strides", strides);
  attrs.set("padding", std::string("VALID"));
  return ctx.emit(op, {x}, std::move(attrs), x->dtype, std::move(shape));
}

// max pooling with return_indices=True (F.max_pool2d(..., return_indices=True),
// aten.max_pool2d_with_indices, adaptive_max_pool): the values convert; the indices have no
// TF-level op, so a call whose indices are read is refused, naming it.
void check_indices_unused(LowerContext& ctx, const std::string& name) {
  if (ctx.num_outputs() > 1 && ctx.output_needed(1)) {
    throw LowerError(name +
                     " with return_indices=True: the indices are used, but only the pooled "
                     "values convert (no TF-level op computes the positions of the maxima)");
  }
}

// Binds the unread indices output to a zero placeholder of its type and shape, which dead-code
// elimination removes (nothing reads it).
void bind_unused_indices(LowerContext& ctx) {
  if (ctx.num_outputs() < 2) return;
  const Value& t = ctx.torch_output(1);
  auto data = std::make_shared<TensorData>(t.dtype, Shape(t.rank(), 1));
  Attrs attrs;
  attrs.set("shape", t.shape);
  ctx.emit_output("broadcast_to", {ctx.constant(std::move(data))}, std::move(attrs), 1);
}

void lower_max_pool(LowerContext& ctx, size_t nsp) {
  const std::string name = "max_pool" + std::to_string(nsp) + "d";
  check_indices_unused(ctx, name);
  const Attrs& a = ctx.attrs();
  const Window w = read_window(a, nsp, name);
  for (int64_t d : expand_ints(a, "dilation", nsp, 1)) {
    if (d != 1) throw LowerError(name + " with dilation > 1 is not supported yet");
  }
  Value* input = ctx.in("input");
  if (has_free_dims(input->sym) && input->rank() == nsp + 1)
    throw LowerError(name + " of an unbatched input cannot take a free size yet");
  Value* x = with_batch_dim(ctx, input, nsp, name);
  std::vector<int64_t> pads(2 * x->rank(), 0);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t size = x->shape[i + 2], k = w.kernel[i], s = w.strides[i], p = w.padding[i];
    pads[2 * (i + 2)] = p;
    if (w.ceil_mode && !x->sym.empty() && x->sym[i + 2] >= 0) {
      // ceil_mode at a free size: the end padding its last window needs depends on the size,
      // but s - 1 more is always enough, and VALID windows over that count ceil((n + 2p - k) / s)
      // + 1, PyTorch's count, wherever PyTorch keeps every window (s <= k - p: a window cannot
      // start in the end padding). The padding is the lowest value, which no max picks.
      if (s > k - p)
        throw LowerError(name +
                         " with ceil_mode=True and a stride above kernel_size - padding "
                         "at a free size is not supported yet");
      pads[2 * (i + 2) + 1] = p + s - 1;
      continue;
    }
    const int64_t out = pooled_size(size, k, s, p, w.ceil_mode);
    // ceil_mode's last window may run past the padded input: pad up to where it ends.
    const int64_t needed = (out - 1) * s + k;
    pads[2 * (i + 2) + 1] = p + std::max<int64_t>(0, needed - size - 2 * p);
  }
  x = emit_constant_pad(ctx, x, pads, lowest_value(x->dtype), /*below_all=*/true);
  Value* y = emit_pool(ctx, "max_pool", x, w.kernel, w.strides);
  if (y->rank() == ctx.torch_output().rank()) y->sym = ctx.torch_output().sym;
  set_output_reshaped(ctx, y);
  bind_unused_indices(ctx);
}

void lower_avg_pool(LowerContext& ctx, size_t nsp) {
  const std::string name = "avg_pool" + std::to_string(nsp) + "d";
  const Attrs& a = ctx.attrs();
  const Window w = read_window(a, nsp, name);
  const bool include_pad = !a.has("count_include_pad") || a.get_bool("count_include_pad");
  const bool has_override = !a.is_none("divisor_override");
  Value* input = ctx.in("input");
  // Free sizes: the divisor map below is fixed by the traced sizes. It holds at any batch; at
  // a free image size only where every window is whole (no ceil_mode, padding counted).
  bool free_spatial = false;
  for (size_t d = input->rank() - nsp; d < input->sym.size(); ++d)
    free_spatial = free_spatial || input->sym[d] >= 0;
  bool padded = false;
  for (int64_t p : w.padding) padded = padded || p > 0;
  if ((free_spatial || has_free_dims(input->sym)) && input->rank() == nsp + 1)
    throw LowerError(name + " of an unbatched input cannot take a free size yet");
  if (free_spatial && (w.ceil_mode || (padded && !include_pad)))
    throw LowerError(name +
                     (w.ceil_mode ? " with ceil_mode=True" : " with count_include_pad=False") +
                     " at a free image size is not supported yet");
  Value* x = with_batch_dim(ctx, input, nsp, name);
  std::vector<int64_t> pads(2 * x->rank(), 0);
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t size = x->shape[i + 2];
    sizes.push_back(size);
    const int64_t out = pooled_size(size, w.kernel[i], w.strides[i], w.padding[i], w.ceil_mode);
    // ceil_mode's last, partial window may run past the padded input: pad (with zeros, which
    // add nothing to the sum) up to where it ends; its divisor is fixed by the scale below.
    const int64_t needed = (out - 1) * w.strides[i] + w.kernel[i];
    pads[2 * (i + 2)] = w.padding[i];
    pads[2 * (i + 2) + 1] = w.padding[i] + std::max<int64_t>(0, needed - size - 2 * w.padding[i]);
  }
  x = emit_constant_pad(ctx, x, pads, 0.0);
  Value* y = emit_pool(ctx, "avg_pool", x, w.kernel, w.strides);
  if (y->rank() == ctx.torch_output().rank()) y->sym = ctx.torch_output().sym;

  // The pool divides each window sum by the whole window; PyTorch divides by the window
  // clipped to the padded input (count_include_pad) or to the input itself, or by the
  // override. The ratio is a constant map, separable over the spatial dims.
  int64_t window = 1;
  for (int64_t k : w.kernel) window *= k;
  if (has_override) {
    const double scale = static_cast<double>(window) / a.get_float("divisor_override");
    Value* c = ctx.constant(float_tensor(y->dtype, {}, {scale}));
    y = ctx.emit("mul", {y, c}, {}, y->dtype, y->shape, y->sym);
    set_output_reshaped(ctx, y);
    return;
  }
  Shape shape(2, 1);
  std::vector<double> scale = {1.0};
  bool uniform = true;
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t out = y->shape[i + 2];
    shape.push_back(out);
    std::vector<double> next;
    for (double s : scale) {
      for (int64_t o = 0; o < out; ++o) {
        const int64_t begin = o * w.strides[i] - w.padding[i];
        const int64_t end = std::min(begin + w.kernel[i], sizes[i] + w.padding[i]);
        const int64_t divisor =
            include_pad ? end - begin : std::min(end, sizes[i]) - std::max<int64_t>(begin, 0);
        uniform = uniform && divisor == w.kernel[i];
        next.push_back(s * static_cast<double>(w.kernel[i]) / static_cast<double>(divisor));
      }
    }
    scale = std::move(next);
  }
  if (!uniform) {
    Value* c = ctx.constant(float_tensor(y->dtype, shape, scale));
    y = ctx.emit("mul", {y, c}, {}, y->dtype, y->shape, y->sym);
  }
  set_output_reshaped(ctx, y);
}

// One spatial axis of adaptive pooling. Windows of one size at a regular step are a pool
// over that axis alone (a window of 1 on the others); any other set of windows (sizes that do
// not divide) is one static slice and reduction per output, joined by a concat. Pooling one
// axis after another is exact: every window is a box.
Value* adaptive_axis(LowerContext& ctx, Value* x, size_t axis, int64_t out, bool is_max) {
  const int64_t in = x->shape[axis];
  if (in == out) return x;
  std::vector<std::pair<int64_t, int64_t>> windows;
  for (int64_t o = 0; o < out; ++o) windows.push_back(adaptive_window(o, in, out));
  const int64_t size = windows[0].second - windows[0].first;
  const int64_t step = out > 1 ? windows[1].first - windows[0].first : 1;
  bool regular = step > 0;
  for (int64_t o = 0; o < out; ++o) {
    regular =
        regular && windows[o].first == o * step && windows[o].second - windows[o].first == size;
  }
  if (regular) {
    std::vector<int64_t> kernel(x->rank() - 2, 1), strides(x->rank() - 2, 1);
    kernel[axis - 2] = size;
    strides[axis - 2] = step;
    return emit_pool(ctx, is_max ? "max_pool" : "avg_pool", x, kernel, strides);
  }
  std::vector<Value*> pieces;
  for (const auto& [begin, end] : windows) {
    Value* piece = emit_axis_slice(ctx, x, static_cast<int64_t>(axis), begin, end);
    Shape shape = piece->shape;
    shape[axis] = 1;
    Attrs attrs;
    attrs.set("axes", std::vector<int64_t>{static_cast<int64_t>(axis)});
    attrs.set("keepdims", true);
    pieces.push_back(ctx.emit(is_max ? "max" : "mean", {piece}, std::move(attrs), x->dtype, shape));
  }
  Shape shape = x->shape;
  shape[axis] = out;
  Attrs attrs;
  attrs.set("axis", static_cast<int64_t>(axis));
  return ctx.emit("concat", pieces, std::move(attrs), x->dtype, std::move(shape));
}

void lower_adaptive(LowerContext& ctx, size_t nsp, bool is_max) {
  const std::string name =
      std::string(is_max ? "adaptive_max_pool" : "adaptive_avg_pool") + std::to_string(nsp) + "d";
  check_indices_unused(ctx, name);
  Value* input = ctx.in("input");
  const Shape& out_shape = ctx.torch_output().shape;
  if (input->rank() < nsp + 1 || out_shape.size() != input->rank()) {
    throw LowerError(name + " expects a " + std::to_string(nsp + 1) + "-D or " +
                     std::to_string(nsp + 2) + "-D input");
  }
  // The output size is read from the traced result: output_size may hold None (keep size).
  const std::vector<int64_t> in(input->shape.end() - nsp, input->shape.end());
  const std::vector<int64_t> out(out_shape.end() - nsp, out_shape.end());
  if (std::any_of(out.begin(), out.end(), [](int64_t o) { return o <= 0; }) ||
      std::any_of(in.begin(), in.end(), [](int64_t i) { return i <= 0; })) {
    throw LowerError(name + " from " + join(in) + " to " + join(out) + ": empty sizes");
  }
  if (std::all_of(out.begin(), out.end(), [](int64_t o) { return o == 1; })) {
    std::vector<int64_t> axes;
    for (size_t i = input->rank() - nsp; i < input->rank(); ++i) {
      axes.push_back(static_cast<int64_t>(i));
    }
    Attrs attrs;
    attrs.set("axes", axes);
    attrs.set("keepdims", true);
    ctx.emit_output(is_max ? "max" : "mean", {input}, std::move(attrs));
    bind_unused_indices(ctx);
    return;
  }
  for (size_t d = 0; d < input->sym.size(); ++d) {
    if (input->sym[d] >= 0 && (d + nsp >= input->rank() || input->rank() == nsp + 1)) {
      throw LowerError(name + " to " + join(out) +
                       " cannot take a free size yet (only to a size of 1, a mean)");
    }
  }
  Value* x = with_batch_dim(ctx, input, nsp, name);
  bool divisible = true;
  std::vector<int64_t> kernel;
  for (size_t i = 0; i < nsp; ++i) {
    divisible = divisible && in[i] % out[i] == 0;
    kernel.push_back(in[i] / std::max<int64_t>(out[i], 1));
  }
  if (divisible) {
    x = emit_pool(ctx, is_max ? "max_pool" : "avg_pool", x, kernel, kernel);
  } else {
    for (size_t i = 0; i < nsp; ++i) x = adaptive_axis(ctx, x, i + 2, out[i], is_max);
  }
  // Free sizes reach here only outside the pooled dims (a batch): the result's are PyTorch's.
  if (x != input && x->rank() == ctx.torch_output().rank()) x->sym = ctx.torch_output().sym;
  set_output_reshaped(ctx, x);
  bind_unused_indices(ctx);
}

}  // namespace

void register_pool_rules(Registry& registry) {
  for (size_t n = 1; n <= 3; ++n) {
    const std::string d = std::to_string(n) + "d";
    Rule max_pool{function_aliases("max_pool" + d, true, false, true),
                  [n](LowerContext& ctx) { lower_max_pool(ctx, n); }, "max_pool (+ pad)"};
    // F.max_poolNd dispatches on return_indices to these.
    max_pool.ops.push_back("torch.nn.functional._max_pool" + d);
    max_pool.ops.push_back("torch.nn.functional.max_pool" + d + "_with_indices");
    max_pool.ops.push_back("aten.max_pool" + d + "_with_indices.default");
    max_pool.free_sizes = true;
    registry.add(std::move(max_pool));

    registry.add({function_aliases("avg_pool" + d, true, false, true),
                  [n](LowerContext& ctx) { lower_avg_pool(ctx, n); }, "avg_pool (+ pad, mul)",
                  /*free_sizes=*/true});

    Rule adaptive_avg{
        {"torch.nn.functional.adaptive_avg_pool" + d, "aten.adaptive_avg_pool" + d + ".default"},
        [n](LowerContext& ctx) { lower_adaptive(ctx, n, false); },
        "mean, avg_pool, or slices + mean + concat"};
    // Only 1-d has a torch.* spelling, and only 2-d/3-d an underscored aten op.
    adaptive_avg.ops.push_back(n == 1 ? "torch.adaptive_avg_pool1d"
                                      : "aten._adaptive_avg_pool" + d + ".default");
    adaptive_avg.free_sizes = true;  // to a size of 1 at a free size: lower_adaptive checks
    registry.add(std::move(adaptive_avg));

    registry.add(
        {{"torch.nn.functional.adaptive_max_pool" + d, "torch.nn.functional._adaptive_max_pool" + d,
          "torch.nn.functional.adaptive_max_pool" + d + "_with_indices",
          "aten.adaptive_max_pool" + d + ".default"},
         [n](LowerContext& ctx) { lower_adaptive(ctx, n, true); },
         "max, max_pool, or slices + max + concat",
         /*free_sizes=*/true});
  }
}

}  // namespace ferry
