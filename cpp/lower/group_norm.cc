// Group and instance normalisation -> the TF-level `group_norm` (docs/tf_ops.md): statistics
// per sample and group of channels, then the per-channel affine. One op rather than a reshape
// into [N, G, C/G, ...]: that reshape moves the channels away from the last axis, so a
// channels-last tensor would need a transpose; the back ends group the channels where they lie
// ([N, H·W, G, C/G] for channels-last) and reduce in place.
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// A per-channel weight or bias: [C], constant or computed, or absent.
Value* channel_param(LowerContext& ctx, const char* arg, int64_t channels, const char* call) {
  Value* v = ctx.in_opt(arg);
  if (v && v->shape != Shape{channels}) {
    throw LowerError(std::string(call) + ": '" + arg + "' must have one entry per channel (" +
                     std::to_string(channels) + ")");
  }
  return v;
}

void emit_group_norm(LowerContext& ctx, Value* x, int64_t groups, double eps, const char* call) {
  if (!is_floating(x->dtype)) throw LowerError(std::string(call) + " takes a floating tensor");
  const int64_t channels = x->shape[1];
  if (groups <= 0 || channels % groups != 0) {
    throw LowerError(std::string(call) + ": " + std::to_string(channels) +
                     " channels do not split into " + std::to_string(groups) + " groups");
  }
  Value* gamma = channel_param(ctx, "weight", channels, call);
  Value* beta = channel_param(ctx, "bias", channels, call);
  Attrs attrs;
  attrs.set("axis", int64_t{1});
  attrs.set("groups", groups);
  attrs.set("epsilon", eps);
  Value* y = ctx.emit("group_norm", {x, gamma, beta}, std::move(attrs), x->dtype, x->shape, x->sym);
  set_output_reshaped(ctx, y);
}

double eps_of(const Attrs& a) {
  return a.has("eps") && !a.is_none("eps") ? a.get_float("eps") : 1e-5;
}

// F.group_norm(input, num_groups, weight, bias, eps); aten.group_norm takes the same names.
void lower_group_norm(LowerContext& ctx) {
  Value* x = ctx.in("input");
  if (x->rank() < 2) throw LowerError("group_norm expects an input of shape [N, C, ...]");
  emit_group_norm(ctx, x, ctx.attrs().get_int("num_groups"), eps_of(ctx.attrs()), "group_norm");
}

// aten.native_group_norm(input, weight, bias, N, C, HxW, group, eps) -> (out, mean, rstd).
void lower_native_group_norm(LowerContext& ctx) {
  Value* x = ctx.in("input");
  if (x->rank() < 2) throw LowerError("native_group_norm expects an input of shape [N, C, ...]");
  emit_group_norm(ctx, x, ctx.attrs().get_int("group"), eps_of(ctx.attrs()), "native_group_norm");
  bind_unread_outputs(ctx, 1, "native_group_norm", "the group statistics");
}

// F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
// eps): with the input's statistics it is a group norm with one channel per group; with
// running statistics (InstanceNorm with track_running_stats=True in eval) a batch norm.
void lower_instance_norm(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* input = ctx.in("input");
  const bool input_stats = !a.has("use_input_stats") || a.get_bool("use_input_stats");
  if (!input_stats) {
    Value* mean = ctx.in_opt("running_mean");
    Value* var = ctx.in_opt("running_var");
    if (!mean || !var || !mean->is_constant() || !var->is_constant()) {
      throw LowerError("instance_norm without use_input_stats needs constant running statistics");
    }
    if (input->rank() < 2) throw LowerError("instance_norm expects an input of shape [N, C, ...]");
    const int64_t channels = input->shape[1];
    auto filled = [&](double value) {
      auto data = std::make_shared<TensorData>(mean->dtype, Shape{channels});
      for (int64_t c = 0; c < channels; ++c) {
        if (mean->dtype == DType::kFloat32) {
          data->mutable_as<float>()[c] = static_cast<float>(value);
        } else if (mean->dtype == DType::kFloat64) {
          data->mutable_as<double>()[c] = value;
        } else {
          throw LowerError("instance_norm with " + std::string(dtype_name(mean->dtype)) +
                           " running statistics is not supported");
        }
      }
      return ctx.constant(std::move(data));
    };
    Value* gamma = ctx.in_opt("weight");
    Value* beta = ctx.in_opt("bias");
    if ((gamma && !gamma->is_constant()) || (beta && !beta->is_constant())) {
      throw LowerError("instance_norm with running statistics needs a constant weight and bias");
    }
    Attrs attrs;
    attrs.set("axis", int64_t{1});
    attrs.set("epsilon", eps_of(a));
    ctx.emit_output("batch_norm",
                    {input, gamma ? gamma : filled(1.0), beta ? beta : filled(0.0), mean, var},
                    std::move(attrs));
    return;
  }
  if (input->rank() < 3) {
    throw LowerError("instance_norm expects an input of shape [N, C, *spatial]");
  }
  emit_group_norm(ctx, input, input->shape[1], eps_of(a), "instance_norm");
}

}  // namespace

void register_group_norm_rules(Registry& registry) {
  // Free sizes: the back ends group the channels of the run-time shape.
  registry.add({function_aliases("group_norm", true, false, true), lower_group_norm, "group_norm",
                /*free_sizes=*/true});
  registry.add({{"aten.native_group_norm.default"},
                lower_native_group_norm,
                "group_norm",
                /*free_sizes=*/true});
  registry.add({function_aliases("instance_norm", true, false, true), lower_instance_norm,
                "group_norm (one channel per group), or batch_norm with running statistics"});
}

}  // namespace ferry
