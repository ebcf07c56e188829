// F.local_response_norm / nn.LocalResponseNorm, as PyTorch computes it: the squares averaged
// over a window of `size` channels (zero-padded by size/2 before and (size-1)/2 after, always
// divided by `size`), then x / (k + alpha · avg)^beta. The window sum is `size` static slices of
// the padded squares added up: exact for every size and rank, and it keeps the channel axis
// where the layout put it. TFLite's LOCAL_RESPONSE_NORMALIZATION would only cover 4-D inputs
// with an odd size.
#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

void lower_local_response_norm(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* x = ctx.in("input");
  if (x->rank() < 3) throw LowerError("local_response_norm expects 3 or more dimensions");
  if (!is_floating(x->dtype)) throw LowerError("local_response_norm takes a floating tensor");
  const int64_t size = a.get_int("size");
  if (size <= 0) throw LowerError("local_response_norm needs a positive size");
  const double alpha = a.has("alpha") ? a.get_float("alpha") : 1e-4;
  const double beta = a.has("beta") ? a.get_float("beta") : 0.75;
  const double k = a.has("k") ? a.get_float("k") : 1.0;
  const DType t = x->dtype;
  const int64_t channels = x->shape[1];
  Value* squared = ctx.emit("mul", {x, x}, {}, t, x->shape);
  std::vector<int64_t> pads(2 * x->rank(), 0);
  pads[2] = size / 2;
  pads[3] = (size - 1) / 2;
  Value* padded = emit_constant_pad(ctx, squared, pads, 0.0);
  Value* sum = nullptr;
  for (int64_t i = 0; i < size; ++i) {
    Value* piece = emit_axis_slice(ctx, padded, 1, i, i + channels);
    sum = sum ? ctx.emit("add", {sum, piece}, {}, t, x->shape) : piece;
  }
  Value* avg =
      ctx.emit("div", {sum, typed_scalar(ctx, static_cast<double>(size), t)}, {}, t, x->shape);
  Value* scaled = ctx.emit("mul", {avg, typed_scalar(ctx, alpha, t)}, {}, t, x->shape);
  Value* shifted = ctx.emit("add", {scaled, typed_scalar(ctx, k, t)}, {}, t, x->shape);
  Value* denominator = ctx.emit("pow", {shifted, typed_scalar(ctx, beta, t)}, {}, t, x->shape);
  ctx.emit_output("div", {x, denominator});
}

}  // namespace

void register_local_response_norm_rules(Registry& registry) {
  registry.add({{"torch.nn.functional.local_response_norm"},
                lower_local_response_norm,
                "mul, pad, slice, add, div, mul, add, pow, div"});
}

}  // namespace ferry
