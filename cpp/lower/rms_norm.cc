// F.rms_norm / nn.RMSNorm: x · rsqrt(mean(x², trailing dims) + eps) · weight, written with
// elementwise ops and a `mean`, as PyTorch's own composite computes it. No fused op: both back
// ends already turn these into what a fused kernel would do (TFLite: MUL, MEAN, ADD, RSQRT,
// MUL), and a hand-written `x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w`
// becomes the same graph through the elementwise rules.
#include <algorithm>
#include <limits>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// torch.finfo(dtype).eps, PyTorch's default when eps is None.
double machine_epsilon(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return std::numeric_limits<double>::epsilon();
    case DType::kFloat16:
      return 0.0009765625;  // 2^-10
    case DType::kBFloat16:
      return 0.0078125;  // 2^-7
    default:
      return std::numeric_limits<float>::epsilon();
  }
}

void lower_rms_norm(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* x = ctx.in("input");
  if (!is_floating(x->dtype)) throw LowerError("rms_norm takes a floating tensor");
  const std::vector<int64_t> normalized = a.get_ints("normalized_shape");
  const size_t rank = x->rank();
  if (normalized.empty() || normalized.size() > rank ||
      !std::equal(normalized.begin(), normalized.end(), x->shape.end() - normalized.size())) {
    throw LowerError(
        "rms_norm: normalized_shape does not match the trailing dimensions of "
        "the input");
  }
  const double eps =
      a.has("eps") && !a.is_none("eps") ? a.get_float("eps") : machine_epsilon(x->dtype);
  std::vector<int64_t> axes;
  for (size_t i = rank - normalized.size(); i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  Shape reduced = x->shape;
  for (int64_t ax : axes) reduced[ax] = 1;
  Value* squared = ctx.emit("mul", {x, x}, {}, x->dtype, x->shape);
  Attrs mean_attrs;
  mean_attrs.set("axes", axes);
  mean_attrs.set("keepdims", true);
  Value* mean = ctx.emit("mean", {squared}, std::move(mean_attrs), x->dtype, reduced);
  Value* shifted = ctx.emit("add", {mean, typed_scalar(ctx, eps, x->dtype)}, {}, x->dtype, reduced);
  Value* scale = ctx.emit("rsqrt", {shifted}, {}, x->dtype, reduced);
  Value* weight = ctx.in_opt("weight");
  if (!weight) {
    ctx.emit_output("mul", {x, scale});
    return;
  }
  Value* normed = ctx.emit("mul", {x, scale}, {}, x->dtype, x->shape);
  ctx.emit_output("mul", {normed, cast_to(ctx, weight, x->dtype)});
}

}  // namespace

void register_rms_norm_rules(Registry& registry) {
  registry.add({function_aliases("rms_norm", true, false, true), lower_rms_norm,
                "mul, mean, add, rsqrt, mul (x weight)"});
}

}  // namespace ferry
