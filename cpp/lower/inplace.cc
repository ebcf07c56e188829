// Writes into a region of a tensor, as functional updates: `x[index] = value` and the
// write-back of an in-place op on a view (`torch.relu_(x[:, 1:2])`), which the bridge hands
// over as `ferry.view_write`. Both arrive with the region already normalised over the base:
// begin/end/step per dim and the dims an integer index removed (squeeze_dims).
#include <algorithm>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// Whether two TF-level values provably hold the same data: the same value, or the same
// reshape / cast of such.
bool same_value(const Value* a, const Value* b) {
  if (a == b) return true;
  if (!a || !b || !a->producer || !b->producer || a->shape != b->shape || a->dtype != b->dtype)
    return false;
  const Node *p = a->producer, *q = b->producer;
  return p->op == q->op && (p->op == "reshape" || p->op == "cast") && p->inputs.size() == 1 &&
         q->inputs.size() == 1 && p->attrs == q->attrs && same_value(p->inputs[0], q->inputs[0]);
}

// Whether two slice_update regions name the same positions (an end may be anywhere past the
// last position; a step is moot where one position is written).
bool same_region(const Attrs& a, const Attrs& b) {
  const auto ab = a.get_ints("begin"), ae = a.get_ints("end"), as = a.get_ints("strides");
  const auto bb = b.get_ints("begin"), be = b.get_ints("end"), bs = b.get_ints("strides");
  if (ab != bb || ae.size() != be.size() || as.size() != bs.size()) return false;
  for (size_t d = 0; d < ab.size(); ++d) {
    const int64_t count = std::max<int64_t>(0, (ae[d] - ab[d] + as[d] - 1) / as[d]);
    if (count != std::max<int64_t>(0, (be[d] - bb[d] + bs[d] - 1) / bs[d])) return false;
    if (count > 1 && as[d] != bs[d]) return false;
  }
  return true;
}

// `base` was made by writing `value` into this very region (`x[r] = torch.relu_(x[r])`: the
// in-place call on the view writes the region, then the assignment stores the same tensor
// there again). SSA values leave nothing between the two writes, so the second changes
// nothing.
bool rewrites_same(const Value* base, const Value* value, const Attrs& region) {
  const Node* p = base->producer;
  return p && p->op == "slice_update" && p->inputs.size() == 2 && same_region(p->attrs, region) &&
         same_value(p->inputs[1], value);
}

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
  // The value's reshape (or cast) above is then unused and goes with dead code.
  if (rewrites_same(base, value, attrs)) return ctx.set_output(0, base);
  ctx.emit_output("slice_update", {base, value}, attrs);
}

}  // namespace

void register_inplace_rules(Registry& registry) {
  registry.add({{"torch.Tensor.__setitem__", "ferry.view_write"},
                lower_region_write,
                "slice_update (+ broadcast, reshape)"});
}

}  // namespace ferry
