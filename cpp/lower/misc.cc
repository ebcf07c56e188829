// Calls that vanish at inference. Dropout in eval mode returns its input tensor itself, so the
// trace normally needs no node for it; the rules exist for the calls that do reach lowering:
// they keep an eval-mode dropout an `identity`, and refuse a training-mode one by name (its
// random mask has no inference equivalent) instead of failing on the aten ops beneath it.
#include <string>
#include <variant>
#include <vector>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

void lower_dropout(LowerContext& ctx, const std::string& name) {
  const Attrs& a = ctx.attrs();
  // F.* spell the flag `training`, torch.* and aten `train`; F.dropout defaults it to True,
  // F.alpha_dropout to False.
  const char* flag = a.has("training") ? "training" : "train";
  const bool training = a.has(flag) ? a.get_bool(flag) : name.find("alpha") == std::string::npos;
  const double p = a.has("p") ? a.get_float("p") : 0.5;
  if (training && p != 0.0) {
    throw LowerError(name + " in training mode draws a random mask at every call; convert the " +
                     "model in eval mode (model.eval()) or pass training=False");
  }
  ctx.emit_output("identity", {ctx.in(self_arg(ctx))});
}

// Tensors a model creates from nothing (torch.zeros, torch.arange, ...) are the same at every
// call: the bridge hands over the recorded result as the argument `recorded`, and the call
// becomes that constant. Random factories are not listed: freezing them would be wrong.
//
// At free sizes (the bridge gives each size argument's expression as `<arg>_expr`) the tensor
// is made at run time instead: arange as a `range`, zeros / ones / full as a `fill`.
void lower_free_factory(LowerContext& ctx) {
  const std::string& op = ctx.node().op;
  const Attrs& a = ctx.attrs();
  const Value& out = ctx.torch_output();
  auto expr = [&](const std::string& name) -> int32_t {
    const std::string key = name + "_expr";
    return a.has(key) ? static_cast<int32_t>(a.get_ints(key).at(0)) : -1;
  };
  auto int_arg = [&](const std::string& name, int64_t fallback) -> int64_t {
    if (!a.has(name) || a.is_none(name)) return fallback;
    if (std::holds_alternative<double>(a.at(name))) {
      throw LowerError("arange with a float bound at a free size is not supported; use ints");
    }
    return a.get_int(name);
  };
  const bool is_arange = op == "torch.arange" || op.rfind("aten.arange.", 0) == 0;
  if (is_arange) {
    Value* range = ctx.emit("range",
                            {emit_size_scalar(ctx, int_arg("start", 0), expr("start")),
                             emit_size_scalar(ctx, int_arg("end", 0), expr("end")),
                             emit_size_scalar(ctx, int_arg("step", 1), expr("step"))},
                            {}, DType::kInt32, out.shape, out.sym);
    ctx.set_output(0, cast_to(ctx, range, out.dtype));
    return;
  }
  // Tensors shaped like another (zeros_like, new_ones, ...): empty ones are made as zeros.
  auto named = [&](std::initializer_list<const char*> stems) {
    for (const char* stem : stems) {
      const std::string s = stem;
      if (op == "torch." + s || op == "torch.Tensor." + s || op.rfind("aten." + s + ".", 0) == 0)
        return true;
    }
    return false;
  };
  const bool zeros = named(
      {"zeros", "zeros_like", "new_zeros", "empty", "empty_like", "new_empty", "empty_strided"});
  const bool ones = named({"ones", "ones_like", "new_ones"});
  const bool full = named({"full", "full_like", "new_full"});
  if (!zeros && !ones && !full) {
    throw LowerError("cannot make this tensor at a free size yet; make that dim static");
  }
  // FILL's version 1 takes float32, int32 and int64: other types are filled as float32 and cast.
  const DType fill_type =
      out.dtype == DType::kInt32 || out.dtype == DType::kInt64 ? out.dtype : DType::kFloat32;
  double value = zeros ? 0.0 : 1.0;
  if (full) {
    if (ctx.has_tensor("fill_value")) throw LowerError("full with a tensor fill_value");
    value = a.get_float("fill_value");
  }
  Value* filled = emit_fill(ctx, typed_scalar(ctx, value, fill_type), out.shape, out.sym);
  ctx.set_output(0, cast_to(ctx, filled, out.dtype));
}

void lower_factory(LowerContext& ctx) {
  if (!ctx.node().sym_args.empty() || has_free_dims(ctx.torch_output().sym))
    return lower_free_factory(ctx);
  ctx.set_output(0, ctx.in("recorded"));
}

// A call computed from constants alone (python/ferry/fold.py): its outputs are the values the
// trace recorded, handed over as the arguments `recorded`, one per output.
void lower_folded(LowerContext& ctx) {
  const std::vector<Value*> recorded = ctx.ins("recorded");
  if (recorded.size() != ctx.num_outputs()) {
    throw LowerError("internal: a folded call needs one recorded value per output");
  }
  for (size_t i = 0; i < recorded.size(); ++i) ctx.set_output(i, recorded[i]);
}

// aten.native_dropout returns the result and the mask it kept. In eval mode (train=False) the
// result is the input and the mask keeps everything.
void lower_native_dropout(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  const bool train = !a.has("train") || a.is_none("train") || a.get_bool("train");
  const double p = a.has("p") ? a.get_float("p") : 0.5;
  if (train && p != 0.0) {
    throw LowerError(
        "native_dropout in training mode draws a random mask at every call; "
        "convert the model in eval mode (model.eval())");
  }
  Value* x = ctx.in(self_arg(ctx));
  ctx.set_output(0, ctx.emit("identity", {x}, {}, x->dtype, x->shape));
  if (ctx.num_outputs() > 1) {
    const Value& mask = ctx.torch_output(1);
    Attrs attrs;
    attrs.set("shape", mask.shape);
    ctx.emit_output("broadcast_to", {typed_scalar(ctx, 1.0, mask.dtype)}, std::move(attrs), 1);
  }
}

// Random draws differ at every call, so no constant can stand for them, and the numbers a
// converted model would draw could not be checked against PyTorch's generator.
void refuse_random(LowerContext& ctx) {
  throw LowerError(ctx.node().op +
                   " draws new random numbers at every call, which a converted model cannot "
                   "reproduce; pass the random tensor in as a model input, or make it a buffer "
                   "drawn once (register_buffer) so it converts as a constant");
}

// aten.alias is a view that is the whole tensor.
void lower_alias(LowerContext& ctx) { ctx.emit_output("identity", {ctx.in(self_arg(ctx))}); }

// aten.copy(self, src): src's values in self's shape and type (src broadcasts).
void lower_copy(LowerContext& ctx) {
  const Value& out = ctx.torch_output();
  Value* src = cast_to(ctx, ctx.in("src"), out.dtype);
  Value* y = emit_broadcast_to(ctx, src, out.shape);
  ctx.set_output(0, y == src ? ctx.emit("identity", {src}, {}, src->dtype, src->shape) : y);
}

void refuse_item(LowerContext& ctx) {
  throw LowerError(
      "Tensor.item() turns a computed tensor into a Python number, which stays fixed "
      "at the traced value in a converted graph; keep the computation in tensors");
}

void refuse_as_strided(LowerContext& ctx) {
  throw LowerError(
      "as_strided reads the tensor's memory with arbitrary strides; it converts "
      "when its input is a constant, but on a computed tensor write the view with "
      "slicing, reshape or unfold instead");
}

// sym_size and friends return Python ints; shapes are static, so they were integers when the
// trace recorded them and nothing is computed at run time.
void lower_static_int(LowerContext&) {}

std::vector<std::string> random_ops() {
  std::vector<std::string> ops;
  for (const std::string name :
       {"rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
        "bernoulli", "multinomial", "normal", "poisson"}) {
    ops.push_back("torch." + name);
  }
  for (const std::string name :
       {"bernoulli", "bernoulli_", "multinomial", "normal_", "uniform_", "exponential_",
        "geometric_", "cauchy_", "log_normal_", "random_"}) {
    ops.push_back("torch.Tensor." + name);
  }
  for (const char* name :
       {"aten.rand.default", "aten.randn.default", "aten.randperm.default",
        "aten.rand_like.default", "aten.randn_like.default", "aten.randint.default",
        "aten.randint.low", "aten.bernoulli.default", "aten.bernoulli.p",
        "aten.multinomial.default", "aten.normal.Tensor_float", "aten.normal.float_Tensor",
        "aten.normal.Tensor_Tensor", "aten.uniform.default", "aten.uniform_.default",
        "aten.normal_.default"}) {
    ops.push_back(name);
  }
  return ops;
}

std::vector<std::string> factory_ops() {
  std::vector<std::string> ops;
  for (const std::string name : {"zeros", "ones", "full", "arange", "eye", "linspace", "logspace",
                                 "tensor", "as_tensor", "scalar_tensor"}) {
    ops.push_back("torch." + name);
    for (const char* overload : {"default", "names", "start", "start_step", "Scalar", "m"}) {
      ops.push_back("aten." + name + "." + overload);
    }
  }
  return ops;
}

}  // namespace

void register_misc_rules(Registry& registry) {
  registry.add({factory_ops(), lower_factory,
                "constant (computed at conversion time); at free sizes range or fill",
                /*free_sizes=*/true});
  registry.add(
      {{"ferry.folded"}, lower_folded, "constant (computed from constants at conversion time)"});
  // Their results depend on shapes and types alone; the bridge folds them (python/ferry/fold.py).
  registry.add({{"aten.empty.memory_format", "aten.empty_strided.default",
                 "aten.empty_like.default",  "aten.full_like.default",
                 "aten.zeros_like.default",  "aten.ones_like.default",
                 "aten.new_zeros.default",   "aten.new_ones.default",
                 "aten.new_full.default",    "aten.new_empty.default",
                 "aten.fill.Scalar",         "torch.Tensor.new_zeros",
                 "torch.Tensor.new_ones",    "torch.Tensor.new_full",
                 "torch.Tensor.new_empty",   "torch.zeros_like",
                 "torch.ones_like",          "torch.full_like",
                 "torch.empty_like",         "torch.empty"},
                lower_factory,
                "constant (computed at conversion time from shapes); at free sizes fill",
                /*free_sizes=*/true});
  registry.add({{"aten.native_dropout.default"}, lower_native_dropout, "identity (eval mode)"});
  registry.add({random_ops(), refuse_random, "refused: random numbers differ at every call"});
  registry.add({{"aten.alias.default", "aten.alias_copy.default"}, lower_alias, "identity"});
  registry.add({{"aten.copy.default"}, lower_copy, "cast + broadcast_to"});
  registry.add({{"aten._local_scalar_dense.default", "torch.Tensor.item"},
                refuse_item,
                "refused: makes a Python number of a computed value, fixed at the traced value"});
  registry.add(
      {{"aten.as_strided.default", "aten.as_strided_copy.default", "torch.as_strided",
        "torch.Tensor.as_strided"},
       refuse_as_strided,
       "refused: reads memory with arbitrary strides (converts when folded on constants)"});
  registry.add({{"aten.sym_size.int", "aten.sym_numel.default", "aten.sym_stride.int",
                 "aten.sym_storage_offset.default"},
                lower_static_int,
                "none (a static int at conversion time)"});
  for (const std::string name : {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                 "feature_alpha_dropout"}) {
    Rule rule{{"torch.nn.functional." + name},
              [name](LowerContext& ctx) { lower_dropout(ctx, name); },
              "identity (eval mode)",
              /*free_sizes=*/true};
    registry.add(std::move(rule));
  }
  for (const std::string name :
       {"dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"}) {
    Rule rule{{"torch." + name, "torch." + name + "_", "aten." + name + ".default",
               "aten." + name + "_.default"},
              [name](LowerContext& ctx) { lower_dropout(ctx, name); },
              "identity (eval mode)",
              /*free_sizes=*/true};
    registry.add(std::move(rule));
  }
}

}  // namespace ferry
