// Scans along one dim: cumsum (the TF-level `cumsum`, TFLite's CUMSUM) and cumprod, which has
// no TFLite builtin and becomes a log-depth scan of static slices, concatenations and MULs.
#include <cmath>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// torch.X, Tensor.X, Tensor.X_ and aten.X(_).default.
std::vector<std::string> scan_names(const std::string& name) {
  return {"torch." + name, "torch.Tensor." + name, "torch.Tensor." + name + "_",
          "aten." + name + ".default", "aten." + name + "_.default"};
}

// The input in the result type: a `dtype=` argument casts first, and integer and bool inputs
// accumulate in int64, as PyTorch's scans do.
Value* scan_input(LowerContext& ctx, int64_t& axis) {
  Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
  axis = normalize_axis(ctx.attrs().get_int("dim"), x->rank());
  return x;
}

void lower_cumsum(LowerContext& ctx) {
  int64_t axis = 0;
  Value* x = scan_input(ctx, axis);
  if (x->rank() == 0) {
    ctx.emit_output("identity", {x});
    return;
  }
  Attrs attrs;
  attrs.set("axis", axis);
  ctx.emit_output("cumsum", {x}, std::move(attrs));
}

// A constant of ones of `shape` and `dtype`.
Value* ones(LowerContext& ctx, DType dtype, const Shape& shape) {
  auto data = std::make_shared<TensorData>(dtype, shape);
  const int64_t n = data->size();
  switch (dtype) {
    case DType::kFloat32:
      std::fill_n(data->mutable_as<float>(), n, 1.0f);
      break;
    case DType::kFloat64:
      std::fill_n(data->mutable_as<double>(), n, 1.0);
      break;
    case DType::kInt64:
      std::fill_n(data->mutable_as<int64_t>(), n, int64_t{1});
      break;
    case DType::kInt32:
      std::fill_n(data->mutable_as<int32_t>(), n, int32_t{1});
      break;
    default:
      throw LowerError("cumprod of " + std::string(dtype_name(dtype)) +
                       " tensors is not supported (float32, float64, int32, int64 are)");
  }
  return ctx.constant(std::move(data));
}

// Hillis-Steele scan: after the step with offset s, each element holds the product of the
// (up to) 2s elements ending at it; the shifted operand is the scan so far moved s places
// along the dim with ones in front. ceil(log2(n)) steps of STRIDED_SLICE, CONCATENATION and
// MUL, for any length. Products are grouped differently from PyTorch's left-to-right loop,
// which moves float results by rounding only (integers are exact, wrapping alike).
void lower_cumprod(LowerContext& ctx) {
  int64_t axis = 0;
  Value* y = scan_input(ctx, axis);
  const int64_t n = y->rank() == 0 ? 1 : y->shape[axis];
  for (int64_t s = 1; s < n; s *= 2) {
    Shape front = y->shape;
    front[axis] = s;
    Value* kept = emit_axis_slice(ctx, y, axis, 0, n - s);
    Attrs attrs;
    attrs.set("axis", axis);
    Value* shifted = ctx.emit("concat", {ones(ctx, y->dtype, front), kept}, std::move(attrs),
                              y->dtype, y->shape);
    y = emit_binary_op(ctx, "mul", y, shifted);
  }
  if (n <= 1) y = ctx.emit("identity", {y}, {}, y->dtype, y->shape);
  ctx.set_output(0, y);
}

}  // namespace

void register_scan_rules(Registry& registry) {
  // A scan keeps its input's shape: it runs over free sizes, along them too.
  registry.add({scan_names("cumsum"), lower_cumsum, "cumsum", true});
  registry.add({scan_names("cumprod"), lower_cumprod,
                "log-depth scan: slice + concat (ones) + mul per step"});
}

}  // namespace ferry
