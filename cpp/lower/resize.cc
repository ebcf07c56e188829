// Resizing: F.interpolate (nn.Upsample, F.upsample*) and the aten upsample ops become one
// channels-last `resize` (docs/tf_ops.md). The output size is the recorded one, so PyTorch's
// rounding of size * scale_factor never has to be redone. What has to be reproduced is where
// each output samples the input (ATen's UpSample.h): the attributes name that rule exactly,
// and `scale` is emitted only where a given scale_factor moves a sample away from where
// in/out would put it, so back ends can use TF's resize kernels wherever they are exact.
#include <string>

#include "ir/resample.h"
#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// What PyTorch was asked to do, whichever spelling was traced.
struct Request {
  std::string mode;  // F.interpolate's: nearest, nearest-exact, linear, bilinear, bicubic, area
  bool align_corners = false;
  bool antialias = false;
  std::vector<double> scales;  // per spatial dim, <= 0 where PyTorch uses in/out (its own rule)
};

struct Sampling {
  std::string method;      // nearest, bilinear, bicubic
  std::string coordinate;  // asymmetric, half_pixel, align_corners
};

// The scale factors as PyTorch hands them to the kernel. F.interpolate passes them on unless
// recompute_scale_factor is True (then only the output size, computed from them, counts).
std::vector<double> interpolate_scales(const Attrs& a, size_t nsp) {
  const bool recompute = a.has("recompute_scale_factor") && !a.is_none("recompute_scale_factor") &&
                         a.get_bool("recompute_scale_factor");
  if (a.is_none("scale_factor") || recompute) return std::vector<double>(nsp, 0.0);
  std::vector<double> s = a.get_floats("scale_factor");
  if (s.size() == 1) s.assign(nsp, s[0]);
  if (s.size() != nsp) {
    throw LowerError("interpolate: scale_factor has " + std::to_string(s.size()) + " entries for " +
                     std::to_string(nsp) + " spatial dims");
  }
  return s;
}

Request from_interpolate(const LowerContext& ctx, size_t nsp) {
  const Attrs& a = ctx.attrs();
  Request r;
  r.mode = a.has("mode") && !a.is_none("mode") ? a.get_string("mode") : "nearest";
  r.align_corners =
      a.has("align_corners") && !a.is_none("align_corners") && a.get_bool("align_corners");
  r.antialias = a.has("antialias") && !a.is_none("antialias") && a.get_bool("antialias");
  if (r.antialias && r.mode != "bilinear" && r.mode != "bicubic") {
    throw LowerError("interpolate with antialias=True takes mode 'bilinear' or 'bicubic', not '" +
                     r.mode + "'");
  }
  r.scales = interpolate_scales(a, nsp);
  return r;
}

// aten.upsample_*{1,2}d: `.default` spells the scales scales_h/scales_w (1-d: scales),
// `.vec` as one scale_factors list.
Request from_aten(const LowerContext& ctx, size_t nsp, const std::string& mode, bool antialias) {
  const Attrs& a = ctx.attrs();
  Request r;
  r.mode = mode;
  r.antialias = antialias;
  r.align_corners = a.has("align_corners") && a.get_bool("align_corners");
  r.scales.assign(nsp, 0.0);
  if (a.has("scale_factors")) {
    if (!a.is_none("scale_factors")) r.scales = a.get_floats("scale_factors");
  } else {
    const std::vector<std::string> names =
        nsp == 1   ? std::vector<std::string>{"scales"}
        : nsp == 2 ? std::vector<std::string>{"scales_h", "scales_w"}
                   : std::vector<std::string>{"scales_d", "scales_h", "scales_w"};
    for (size_t i = 0; i < names.size() && i < nsp; ++i) {
      if (!a.is_none(names[i])) r.scales[i] = a.get_float(names[i]);
    }
  }
  if (r.scales.size() != nsp) throw LowerError(mode + ": scale_factors does not match the rank");
  return r;
}

// Whether a given scale_factor moves any sample of this axis from where in/out puts it.
bool scale_matters(const Sampling& s, bool antialias, DType dtype, int64_t in, int64_t out,
                   double scale) {
  if (scale <= 0) return false;
  const bool f64 = dtype == DType::kFloat64;
  const ResampleTaps with = resample_taps(s.method, s.coordinate, in, out, scale, f64, antialias);
  const ResampleTaps without = resample_taps(s.method, s.coordinate, in, out, 0.0, f64, antialias);
  return with.index != without.index || with.weight != without.weight;
}

Sampling sampling_for(const Request& r, size_t nsp) {
  const std::string linear = nsp == 1 ? "linear" : nsp == 2 ? "bilinear" : "trilinear";
  if (r.mode == "nearest") return {"nearest", "asymmetric"};
  if (r.mode == "nearest-exact") return {"nearest", "half_pixel"};
  if (r.mode == linear || r.mode == "bicubic") {
    if (r.mode == "bicubic" && nsp != 2) throw LowerError("bicubic interpolation needs 4-D input");
    return {r.mode == "bicubic" ? "bicubic" : "bilinear",
            r.align_corners ? "align_corners" : "half_pixel"};
  }
  throw LowerError("interpolate mode '" + r.mode + "' is not supported for " +
                   std::to_string(nsp + 2) + "-D input");
}

// mode='area' is adaptive average pooling; without a fixed window per output it has no
// exact counterpart among the TF-level ops.
Value* emit_area(LowerContext& ctx, Value* x, const std::vector<int64_t>& out) {
  std::vector<int64_t> kernel;
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t in = x->shape[i + 2];
    if (out[i] <= 0 || in % out[i] != 0) {
      throw LowerError("interpolate mode 'area' from size " + std::to_string(in) + " to " +
                       std::to_string(out[i]) +
                       " is not supported: the input size must be a multiple of the output size");
    }
    kernel.push_back(in / out[i]);
  }
  Attrs attrs;
  attrs.set("pool_size", kernel);
  attrs.set("strides", kernel);
  attrs.set("padding", std::string("VALID"));
  return ctx.emit("avg_pool", {x}, std::move(attrs), x->dtype,
                  {x->shape[0], x->shape[1], out[0], out[1]});
}

// Free sizes: only TF's own 2-D kernels (RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR) take the
// output size at run time, and they sample where ATen does only from in/out: so a size given
// by scale_factor must be a whole multiple (then in/out is 1/scale at every size).
void lower_free_resize(LowerContext& ctx, Value* x, const Request& r) {
  const Value& out = ctx.torch_output();
  const size_t nsp = x->rank() - 2;
  auto refuse = [&](const std::string& why) {
    throw LowerError("interpolate at a free size: " + why + "; make the image size static");
  };
  if (nsp != 2) refuse("only 2-D resizing (4-D input) takes one");
  if (r.antialias || (r.mode != "nearest" && r.mode != "bilinear"))
    refuse("mode '" + r.mode + (r.antialias ? "' with antialias" : "'") + " has no such kernel");
  if (x->dtype != DType::kFloat32) refuse("only float32 images");
  for (double scale : r.scales) {
    if (scale > 0 && scale != static_cast<double>(static_cast<int64_t>(scale)))
      refuse("a scale_factor that is not a whole number");
  }
  const Sampling s = sampling_for(r, nsp);
  Attrs attrs;
  attrs.set("size", std::vector<int64_t>(out.shape.end() - 2, out.shape.end()));
  attrs.set("method", s.method);
  attrs.set("coordinate", s.coordinate);
  std::vector<Value*> inputs{x};
  const bool free_size = out.sym.size() == 4 && (out.sym[2] >= 0 || out.sym[3] >= 0);
  if (free_size) {
    // The output size as an int32 [2] tensor: run-time where free, fixed elsewhere.
    std::vector<Value*> pieces;
    for (size_t d = 2; d < 4; ++d) {
      if (out.sym[d] >= 0) {
        pieces.push_back(ctx.size_value(out.sym[d]));
      } else {
        auto data = std::make_shared<TensorData>(DType::kInt32, Shape{1});
        data->mutable_as<int32_t>()[0] = static_cast<int32_t>(out.shape[d]);
        pieces.push_back(ctx.constant(data));
      }
    }
    Attrs axis;
    axis.set("axis", int64_t{0});
    inputs.push_back(ctx.emit("concat", pieces, std::move(axis), DType::kInt32, {2}));
  }
  ctx.emit_output("resize", std::move(inputs), std::move(attrs));
}

void lower_resize(LowerContext& ctx, Value* input, const Request& r) {
  const size_t nsp = input->rank() - 2;
  const Shape& out_shape = ctx.torch_output().shape;
  if (has_free_dims(input->sym) || has_free_dims(ctx.torch_output().sym)) {
    lower_free_resize(ctx, input, r);
    return;
  }
  // 1-d resizing is 2-d resizing of a height-1 image: every sampling rule maps row 0 to 0.
  Value* x = input;
  std::vector<int64_t> out(out_shape.end() - nsp, out_shape.end());
  std::vector<double> scales = r.scales;
  if (nsp == 1) {
    x = emit_reshape(ctx, input, {input->shape[0], input->shape[1], 1, input->shape[2]});
    out.insert(out.begin(), 1);
    scales.insert(scales.begin(), 0.0);
  }
  if (r.mode == "area") {
    if (nsp == 3) throw LowerError("interpolate mode 'area' of 5-D input is not supported");
    set_output_reshaped(ctx, emit_area(ctx, x, out));
    return;
  }
  const Sampling s = sampling_for(r, nsp);
  if (s.method != "nearest" && !is_floating(x->dtype)) {
    throw LowerError(s.method + " interpolation of " + std::string(dtype_name(x->dtype)) +
                     " tensors is not supported");
  }
  bool with_scale = false;
  for (size_t i = 0; i < out.size(); ++i)
    with_scale |= scale_matters(s, r.antialias, x->dtype, x->shape[i + 2], out[i], scales[i]);
  Attrs attrs;
  attrs.set("size", out);
  attrs.set("method", s.method);
  attrs.set("coordinate", s.coordinate);
  if (with_scale) attrs.set("scale", scales);
  if (r.antialias) attrs.set("antialias", true);
  Shape y_shape = {x->shape[0], x->shape[1]};
  y_shape.insert(y_shape.end(), out.begin(), out.end());
  Value* y = ctx.emit("resize", {x}, std::move(attrs), x->dtype, std::move(y_shape));
  set_output_reshaped(ctx, y);
}

Value* spatial_input(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  if (x->rank() < 3 || x->rank() > 5) {
    throw LowerError("interpolation expects a 3-D, 4-D or 5-D input, got " +
                     std::to_string(x->rank()) + "-D");
  }
  return x;
}

Rule aten_rule(const std::string& op, size_t nsp, const std::string& mode, bool antialias = false) {
  return {{"aten." + op + ".default", "aten." + op + ".vec"},
          [nsp, mode, antialias](LowerContext& ctx) {
            Value* x = spatial_input(ctx);
            if (x->rank() != nsp + 2) throw LowerError(mode + ": unexpected input rank");
            lower_resize(ctx, x, from_aten(ctx, nsp, mode, antialias));
          },
          "resize",
          /*free_sizes=*/true};
}

}  // namespace

void register_resize_rules(Registry& registry) {
  // nn.Upsample* modules and F.upsample, F.upsample_nearest, F.upsample_bilinear all reach
  // the trace as this call (the deprecated F.upsample* do not dispatch on their own).
  registry.add({{"torch.nn.functional.interpolate"},
                [](LowerContext& ctx) {
                  Value* x = spatial_input(ctx);
                  lower_resize(ctx, x, from_interpolate(ctx, x->rank() - 2));
                },
                "resize (avg_pool for mode='area')",
                /*free_sizes=*/true});
  registry.add(aten_rule("upsample_nearest2d", 2, "nearest"));
  registry.add(aten_rule("_upsample_nearest_exact2d", 2, "nearest-exact"));
  registry.add(aten_rule("upsample_bilinear2d", 2, "bilinear"));
  registry.add(aten_rule("upsample_bicubic2d", 2, "bicubic"));
  registry.add(aten_rule("upsample_nearest1d", 1, "nearest"));
  registry.add(aten_rule("_upsample_nearest_exact1d", 1, "nearest-exact"));
  registry.add(aten_rule("upsample_linear1d", 1, "linear"));
  registry.add(aten_rule("upsample_nearest3d", 3, "nearest"));
  registry.add(aten_rule("_upsample_nearest_exact3d", 3, "nearest-exact"));
  registry.add(aten_rule("upsample_trilinear3d", 3, "trilinear"));
  registry.add(aten_rule("_upsample_bilinear2d_aa", 2, "bilinear", true));
  registry.add(aten_rule("_upsample_bicubic2d_aa", 2, "bicubic", true));
}

}  // namespace ferry
