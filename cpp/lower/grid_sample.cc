// F.grid_sample (aten.grid_sampler_2d): one channels-last `grid_sample` (docs/tf_ops.md). The
// grid is data, so sampling is a gather at positions computed in the graph; the back ends
// compute them as ATen's grid_sampler_2d does (unnormalize, clip or reflect, floor or round).
// The input is read channels-last ([N, H, W, C] rows of C values are what a gather fetches);
// the grid keeps PyTorch's [N, H', W', 2] (x, y) order, pinned by an order hint.
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

struct GridRequest {
  std::string mode;     // bilinear, nearest, bicubic
  std::string padding;  // zeros, border, reflection
  bool align_corners = false;
};

// aten.grid_sampler{,_2d} spell mode and padding as ATen's enum values.
GridRequest from_aten(const Attrs& a) {
  static const char* kModes[] = {"bilinear", "nearest", "bicubic"};
  static const char* kPaddings[] = {"zeros", "border", "reflection"};
  const int64_t mode = a.get_int("interpolation_mode"), padding = a.get_int("padding_mode");
  if (mode < 0 || mode > 2) throw LowerError("grid_sampler: unknown interpolation_mode");
  if (padding < 0 || padding > 2) throw LowerError("grid_sampler: unknown padding_mode");
  return {kModes[mode], kPaddings[padding], a.get_bool("align_corners")};
}

GridRequest from_function(const Attrs& a) {
  auto text = [&](const char* name, const char* fallback) {
    return a.has(name) && !a.is_none(name) ? a.get_string(name) : std::string(fallback);
  };
  return {text("mode", "bilinear"), text("padding_mode", "zeros"),
          a.has("align_corners") && !a.is_none("align_corners") && a.get_bool("align_corners")};
}

void lower_grid_sample(LowerContext& ctx, const GridRequest& r) {
  Value* x = ctx.in(self_arg(ctx));
  Value* grid = ctx.in("grid");
  if (x->rank() == 5) throw LowerError("grid_sample of 5-D (volumetric) input is not supported");
  if (x->rank() != 4 || grid->rank() != 4 || grid->shape[3] != 2) {
    throw LowerError("grid_sample expects a 4-D input and an [N, H, W, 2] grid");
  }
  if (r.mode != "bilinear" && r.mode != "nearest") {
    throw LowerError("grid_sample mode '" + r.mode +
                     "' is not supported (bilinear and nearest are)");
  }
  if (r.padding != "zeros" && r.padding != "border" && r.padding != "reflection") {
    throw LowerError("grid_sample padding_mode '" + r.padding + "' is not supported");
  }
  if (!is_floating(x->dtype) || x->dtype != grid->dtype) {
    throw LowerError("grid_sample needs floating input and grid of one dtype, got " +
                     std::string(dtype_name(x->dtype)) + " and " +
                     std::string(dtype_name(grid->dtype)));
  }
  if (grid->shape[0] != x->shape[0]) {
    throw LowerError("grid_sample: the grid's batch size differs from the input's");
  }
  // The grid's last axis is (x, y), not channels: it is read in PyTorch order.
  Attrs hint;
  hint.set("force", std::string("pytorch"));
  Value* pinned = ctx.emit("identity", {grid}, std::move(hint), grid->dtype, grid->shape);
  Attrs attrs;
  attrs.set("mode", r.mode);
  attrs.set("padding", r.padding);
  attrs.set("align_corners", r.align_corners);
  ctx.emit_output("grid_sample", {x, pinned}, std::move(attrs));
}

}  // namespace

void register_grid_sample_rules(Registry& registry) {
  registry.add({{"torch.nn.functional.grid_sample"},
                [](LowerContext& ctx) { lower_grid_sample(ctx, from_function(ctx.attrs())); },
                "grid_sample"});
  registry.add({{"aten.grid_sampler_2d.default", "aten.grid_sampler.default"},
                [](LowerContext& ctx) { lower_grid_sample(ctx, from_aten(ctx.attrs())); },
                "grid_sample"});
}

}  // namespace ferry
