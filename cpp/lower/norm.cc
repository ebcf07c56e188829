// Normalisation layers and embedding lookups: each maps to one native Keras layer op.
#include <algorithm>
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

std::shared_ptr<TensorData> filled(DType dtype, int64_t size, double value) {
  auto data = std::make_shared<TensorData>(dtype, Shape{size});
  for (int64_t i = 0; i < size; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        data->mutable_as<float>()[i] = static_cast<float>(value);
        break;
      case DType::kFloat64:
        data->mutable_as<double>()[i] = value;
        break;
      default:
        throw LowerError("batch_norm with " + std::string(dtype_name(dtype)) +
                         " statistics and no weight/bias is not supported");
    }
  }
  return data;
}

Value* constant_param(LowerContext& ctx, const std::string& arg) {
  Value* v = ctx.in_opt(arg);
  if (v && !v->is_constant()) {
    throw LowerError("batch_norm: '" + arg +
                     "' is computed at run time; only constant parameters and buffers are "
                     "supported");
  }
  return v;
}

void lower_batch_norm(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* x = ctx.in("input");
  Value* mean = constant_param(ctx, "running_mean");
  Value* var = constant_param(ctx, "running_var");
  const bool training = a.has("training") && a.get_bool("training");
  if (!mean || !var) {
    // Without running statistics PyTorch always normalises with the statistics of the batch
    // (BatchNorm with track_running_stats=False), which a converted inference model cannot do.
    throw LowerError(
        "batch_norm without running statistics (track_running_stats=False) normalises with "
        "the statistics of each batch; this is not supported");
  }
  if (training) {
    throw LowerError("batch_norm is in training mode; call model.eval() before converting");
  }
  if (x->rank() < 2) throw LowerError("batch_norm expects an input with a channel dimension");
  const int64_t channels = x->shape[1];
  if (mean->shape != Shape{channels} || var->shape != Shape{channels}) {
    throw LowerError("batch_norm: running statistics do not match the " + std::to_string(channels) +
                     " channels of the input");
  }
  Value* gamma = constant_param(ctx, "weight");
  Value* beta = constant_param(ctx, "bias");
  if (!gamma) gamma = ctx.constant(filled(mean->dtype, channels, 1.0));
  if (!beta) beta = ctx.constant(filled(mean->dtype, channels, 0.0));
  Attrs attrs;
  attrs.set("axis", int64_t{1});
  attrs.set("epsilon", a.has("eps") ? a.get_float("eps") : 1e-5);
  ctx.emit_output("batch_norm", {x, gamma, beta, mean, var}, std::move(attrs));
}

void lower_layer_norm(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* x = ctx.in("input");
  const std::vector<int64_t> normalized = a.get_ints("normalized_shape");
  const size_t rank = x->rank();
  if (normalized.empty() || normalized.size() > rank ||
      !std::equal(normalized.begin(), normalized.end(), x->shape.end() - normalized.size())) {
    throw LowerError(
        "layer_norm: normalized_shape does not match the trailing dimensions of "
        "the input");
  }
  std::vector<int64_t> axes;
  for (size_t i = rank - normalized.size(); i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  Attrs attrs;
  attrs.set("axes", axes);
  attrs.set("epsilon", a.has("eps") ? a.get_float("eps") : 1e-5);
  for (size_t d = x->rank() - normalized.size(); d < x->sym.size(); ++d) {
    if (x->sym[d] >= 0) throw LowerError("layer_norm over a free size is not supported yet");
  }
  ctx.emit_output("layer_norm", {x, ctx.in_opt("weight"), ctx.in_opt("bias")}, std::move(attrs));
}

void lower_embedding(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  if (!a.is_none("max_norm")) {
    // max_norm renormalises the looked-up rows of the weight in place on every call.
    throw LowerError("embedding with max_norm is not supported");
  }
  Value* indices = ctx.in_opt("input");
  if (!indices) indices = ctx.in("indices");  // aten.embedding's name
  Value* table = ctx.in("weight");
  if (table->rank() != 2) throw LowerError("embedding expects a 2-D weight");
  if (is_floating(indices->dtype)) throw LowerError("embedding indices must be integers");
  ctx.emit_output("embedding", {indices, table});
}

// aten._native_batch_norm_legit.no_stats: batch norm from the statistics of this batch (a
// training-mode batch_norm with no running statistics): mean and biased variance over every
// dim but the channels (dim 1).
void lower_batch_statistics_norm(LowerContext& ctx) {
  Value* x = ctx.in("input");
  if (x->rank() < 2 || !is_floating(x->dtype)) {
    throw LowerError("batch norm needs a floating point input of rank >= 2");
  }
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < static_cast<int64_t>(x->rank()); ++d)
    if (d != 1) axes.push_back(d);
  Value* mean = emit_reduction(ctx, "mean", x, axes, true);
  Value* centred = emit_binary_op(ctx, "sub", x, mean);
  Value* var =
      emit_reduction(ctx, "mean", emit_binary_op(ctx, "mul", centred, centred), axes, true);
  const double eps = ctx.attrs().has("eps") ? ctx.attrs().get_float("eps") : 1e-5;
  Value* scale = emit_unary_op(ctx, "rsqrt",
                               emit_binary_op(ctx, "add", var, typed_scalar(ctx, eps, x->dtype)));
  Value* y = emit_binary_op(ctx, "mul", centred, scale);
  // weight and bias are [C]: shaped to broadcast along dim 1.
  Shape per_channel(x->rank(), 1);
  per_channel[1] = x->shape[1];
  if (Value* w = ctx.in_opt("weight")) {
    y = emit_binary_op(ctx, "mul", y, emit_reshape(ctx, cast_to(ctx, w, x->dtype), per_channel));
  }
  if (Value* b = ctx.in_opt("bias")) {
    y = emit_binary_op(ctx, "add", y, emit_reshape(ctx, cast_to(ctx, b, x->dtype), per_channel));
  }
  ctx.set_output(0, y);
  bind_unread_outputs(ctx, 1, "batch_norm", "the saved statistics");
}

}  // namespace

void register_norm_rules(Registry& registry) {
  registry.add({{"aten._native_batch_norm_legit.no_stats"},
                lower_batch_statistics_norm,
                "mean, sub, mul, mean, rsqrt (the batch's own statistics)"});
  // native_batch_norm: the batch's statistics in training mode, the running ones otherwise.
  registry.add({{"aten.native_batch_norm.default"},
                [](LowerContext& ctx) {
                  const Attrs& a = ctx.attrs();
                  if (a.has("training") && a.get_bool("training")) {
                    lower_batch_statistics_norm(ctx);
                    return;
                  }
                  lower_batch_norm(ctx);
                  bind_unread_outputs(ctx, 1, "batch_norm", "the saved statistics");
                },
                "mean, sub, mul, mean, rsqrt (the batch's own statistics)"});
  registry.add({function_aliases("batch_norm", true, false, true), lower_batch_norm, "batch_norm",
                /*free_sizes=*/true});
  // Free sizes outside the normalised dims (lower_layer_norm refuses them inside).
  registry.add({function_aliases("layer_norm", true, false, true), lower_layer_norm, "layer_norm",
                /*free_sizes=*/true});
  // The aten forms also return statistics (mean and 1/std), converted only while unread.
  registry.add({{"aten.native_layer_norm.default"},
                [](LowerContext& ctx) {
                  lower_layer_norm(ctx);
                  bind_unread_outputs(ctx, 1, "native_layer_norm", "the statistics");
                },
                "layer_norm"});
  registry.add({{"aten._native_batch_norm_legit_no_training.default",
                 "aten._native_batch_norm_legit.default"},
                [](LowerContext& ctx) {
                  lower_batch_norm(ctx);
                  bind_unread_outputs(ctx, 1, "batch_norm", "the saved statistics");
                },
                "batch_norm"});
  // A GATHER of rows: any number of tokens.
  registry.add({function_aliases("embedding", true, false, true), lower_embedding, "embedding",
                /*free_sizes=*/true});
}

}  // namespace ferry
