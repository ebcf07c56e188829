// Writes into a region of a tensor, as functional updates: `x[index] = value` and the
// write-back of an in-place op on a view (`torch.relu_(x[:, 1:2])`), which the bridge hands
// over as `ferry.view_write`. Both arrive with the region already normalised over the base:
// begin/end/step per dim and the dims an integer index removed (squeeze_dims).
#include <algorithm>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

void lower_region_write(LowerContext& ctx) {
  Value* base = ctx.in("input");
  const Attrs& a = ctx.attrs();
  if (ctx.has_tensor("index"))
    throw LowerError("writing through a tensor index is not supported yet");
  std::vector<int64_t> begin = a.get_ints("begin"), end = a.get_ints("end"),
                       step = a.get_ints("step");
  std::vector<int64_t> squeeze = a.get_ints("squeeze_dims");
  if (begin.size() != base->rank()) throw LowerError("the written region does not cover every dim");
  Shape region(base->rank()), squeezed;
  for (size_t d = 0; d < region.size(); ++d) {
    region[d] = std::max<int64_t>(0, (end[d] - begin[d] + step[d] - 1) / step[d]);
    if (std::find(squeeze.begin(), squeeze.end(), static_cast<int64_t>(d)) == squeeze.end()) {
      squeezed.push_back(region[d]);
    }
  }
  // The value broadcasts against the region as PyTorch indexes it (integer dims removed),
  // then takes the region's full-rank shape.
  Value* value = ctx.in_opt("value");
  if (!value) {
    value = typed_scalar(ctx, a.get_float("value"), base->dtype);
  }
  value = cast_to(ctx, value, base->dtype);
  if (value->shape != squeezed) {
    auto zeros = std::make_shared<TensorData>(base->dtype, squeezed);
    value = ctx.emit("add", {value, ctx.constant(zeros)}, {}, base->dtype, squeezed);
  }
  if (squeezed != region) {
    Attrs r;
    r.set("shape", region);
    value = ctx.emit("reshape", {value}, r, base->dtype, region);
  }
  Attrs attrs;
  attrs.set("begin", begin);
  attrs.set("end", end);
  attrs.set("strides", step);
  ctx.emit_output("slice_update", {base, value}, attrs);
}

}  // namespace

void register_inplace_rules(Registry& registry) {
  registry.add({{"torch.Tensor.__setitem__", "ferry.view_write"},
                lower_region_write,
                "slice_update (+ broadcast, reshape)"});
}

}  // namespace ferry
