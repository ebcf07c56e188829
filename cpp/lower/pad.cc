// F.pad and the padding modules and aten ops behind it (nn.ZeroPad*, ConstantPad*,
// ReflectionPad*, ReplicationPad*, CircularPad*). The TF-level `pad` takes non-negative pads
// only; PyTorch's negative entries crop, which becomes a static `slice`. PyTorch pads the
// input and then crops for "constant", "reflect" and "replicate" (a reflection is taken about
// the uncropped edge), but crops first for "circular" (the wrap-around reads the cropped
// tensor), so the slice goes after or before the pad accordingly.
#include <algorithm>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// The slice keeping [crop_before, size - crop_after) of every dim; x itself when it keeps all.
Value* emit_crop(LowerContext& ctx, Value* x, const std::vector<int64_t>& crops) {
  if (std::all_of(crops.begin(), crops.end(), [](int64_t c) { return c == 0; })) return x;
  std::vector<int64_t> begin, end, strides(x->rank(), 1);
  Shape shape;
  for (size_t d = 0; d < x->rank(); ++d) {
    begin.push_back(crops[2 * d]);
    end.push_back(x->shape[d] - crops[2 * d + 1]);
    if (end.back() < begin.back()) throw LowerError("pad crops more than the whole dimension");
    shape.push_back(end.back() - begin.back());
  }
  Attrs attrs;
  attrs.set("begin", std::move(begin));
  attrs.set("end", std::move(end));
  attrs.set("strides", std::move(strides));
  return ctx.emit("slice", {x}, std::move(attrs), x->dtype, std::move(shape));
}

// A REFLECT, REPLICATE or CIRCULAR `pad`, after checking the widths PyTorch allows.
Value* emit_edge_pad(LowerContext& ctx, Value* x, const std::vector<int64_t>& pads,
                     const std::string& mode, const std::string& torch_mode) {
  if (std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })) return x;
  Shape shape = x->shape;
  for (size_t d = 0; d < x->rank(); ++d) {
    const int64_t widest = std::max(pads[2 * d], pads[2 * d + 1]);
    // reflect mirrors about the edge element, so it needs one more; circular wraps once.
    const bool fits = mode == "REFLECT"    ? widest < x->shape[d]
                      : mode == "CIRCULAR" ? widest <= x->shape[d]
                                           : x->shape[d] > 0 || widest == 0;
    if (!fits) {
      throw LowerError("pad with mode='" + torch_mode + "': padding " + std::to_string(widest) +
                       " does not fit dimension " + std::to_string(d) + " of size " +
                       std::to_string(x->shape[d]));
    }
    shape[d] += pads[2 * d] + pads[2 * d + 1];
  }
  Attrs attrs;
  attrs.set("pads", pads);
  attrs.set("mode", mode);
  attrs.set("value", 0.0);
  return ctx.emit("pad", {x}, std::move(attrs), x->dtype, std::move(shape));
}

void lower_pad(LowerContext& ctx, const std::string& fixed_mode) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const std::string mode = !fixed_mode.empty()                   ? fixed_mode
                           : a.has("mode") && !a.is_none("mode") ? a.get_string("mode")
                                                                 : "constant";
  const std::vector<int64_t> pads =
      pads_by_dim(a.get_ints(a.has("pad") ? "pad" : "padding"), x->rank());
  std::vector<int64_t> grow(pads.size()), crop(pads.size());
  for (size_t i = 0; i < pads.size(); ++i) {
    grow[i] = std::max<int64_t>(pads[i], 0);
    crop[i] = std::max<int64_t>(-pads[i], 0);
  }
  // Free sizes: pads are constants, which PAD and MIRROR_PAD take at any size; a crop is cut
  // at fixed positions.
  const Value& out = ctx.torch_output();
  const bool free = has_free_dims(x->sym) || has_free_dims(out.sym);
  if (free) {
    for (size_t d = 0; d < x->rank(); ++d) {
      if (crop[2 * d] || crop[2 * d + 1])
        throw LowerError("pad cropping (negative pads) at free sizes is not supported yet");
    }
    // Their edge copies are slices at fixed positions over the whole tensor.
    if (mode == "replicate" || mode == "circular")
      throw LowerError("pad with mode='" + mode +
                       "' at free sizes is not supported yet; make the sizes static");
  }
  Value* y = x;
  if (mode == "constant") {
    const double value = a.has("value") && !a.is_none("value") ? a.get_float("value") : 0.0;
    y = emit_crop(ctx, emit_constant_pad(ctx, x, grow, value), crop);
  } else if (mode == "reflect" || mode == "replicate") {
    y = emit_crop(
        ctx, emit_edge_pad(ctx, x, grow, mode == "reflect" ? "REFLECT" : "REPLICATE", mode), crop);
  } else if (mode == "circular") {
    y = emit_edge_pad(ctx, emit_crop(ctx, x, crop), grow, "CIRCULAR", mode);
  } else {
    throw LowerError("pad with mode='" + mode + "' is not supported");
  }
  if (y == x) {
    ctx.emit_output("identity", {x});
  } else {
    if (free) y->sym = out.sym;  // made here: the pad's sizes are the call's
    ctx.set_output(0, y);
  }
}

void add_pad_rule(Registry& registry, std::vector<std::string> ops, std::string mode,
                  std::string mapping) {
  registry.add({std::move(ops),
                [mode](LowerContext& ctx) {
                  // A call that hands back its input has no output of its own.
                  if (ctx.num_outputs() > 0) lower_pad(ctx, mode);
                },
                std::move(mapping), /*free_sizes=*/true});
}

}  // namespace

void register_pad_rules(Registry& registry) {
  add_pad_rule(registry,
               {"torch.nn.functional.pad", "torch._C._nn.pad", "aten.constant_pad_nd.default",
                "aten.pad.default"},
               "", "pad (constant, reflect, replicate or circular) + slice for negative pads");
  std::vector<std::string> reflection, replication;
  for (const char* d : {"1d", "2d", "3d"}) {
    reflection.push_back(std::string("aten.reflection_pad") + d + ".default");
    replication.push_back(std::string("aten.replication_pad") + d + ".default");
  }
  add_pad_rule(registry, reflection, "reflect", "pad (REFLECT) + slice for negative pads");
  add_pad_rule(registry, replication, "replicate", "pad (REPLICATE) + slice for negative pads");
  add_pad_rule(registry, {"aten._pad_circular.default"}, "circular", "slice + pad (CIRCULAR)");
}

}  // namespace ferry
