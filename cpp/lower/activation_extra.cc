// Activations beyond the CNN set, each PyTorch's own formula over TF-level elementwise ops:
// softplus (beta, threshold), mish, logsigmoid, celu, selu, rrelu in eval mode, the shrink
// functions, softsign, threshold, glu, prelu and softmin. Comparisons are written so that NaN
// falls through to the branch PyTorch takes (`x <= t ? value : x` keeps NaN).
#include <cmath>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// F.X (and F.X_ when `in_place`), torch.X, Tensor.X as the flags say, and aten.X.default.
std::vector<std::string> act_names(const std::string& name, bool torch_namespace,
                                   bool tensor_method, bool in_place = false) {
  std::vector<std::string> out = function_aliases(name, true, tensor_method, torch_namespace);
  if (in_place) {
    auto more = function_aliases(name + "_", true, tensor_method, torch_namespace);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

Value* input(LowerContext& ctx) {
  return cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
}

Value* k(LowerContext& ctx, double value, const Value* like) {
  return typed_scalar(ctx, value, like->dtype);
}

double number(const LowerContext& ctx, const std::string& name, double fallback) {
  return ctx.attrs().is_none(name) ? fallback : ctx.attrs().get_float(name);
}

// log(1 + exp(x)).
Value* log1p_exp(LowerContext& ctx, Value* x) {
  Value* e = emit_unary_op(ctx, "exp", x);
  return emit_unary_op(ctx, "log", emit_binary_op(ctx, "add", e, k(ctx, 1, x)));
}

// PyTorch: x * beta > threshold ? x : log1p(exp(x * beta)) / beta.
void lower_softplus(LowerContext& ctx) {
  Value* x = input(ctx);
  const double beta = number(ctx, "beta", 1.0), threshold = number(ctx, "threshold", 20.0);
  Value* bx = beta == 1.0 ? x : emit_binary_op(ctx, "mul", x, k(ctx, beta, x));
  Value* soft = log1p_exp(ctx, bx);
  if (beta != 1.0) soft = emit_binary_op(ctx, "div", soft, k(ctx, beta, x));
  Value* linear = emit_binary_op(ctx, "greater", bx, k(ctx, threshold, x));
  ctx.set_output(0, emit_select(ctx, linear, x, soft));
}

// x * tanh(log1p(exp(x))): PyTorch's mish has no threshold (exp overflows to inf, tanh to 1).
void lower_mish(LowerContext& ctx) {
  Value* x = input(ctx);
  ctx.set_output(0, emit_binary_op(ctx, "mul", x, emit_unary_op(ctx, "tanh", log1p_exp(ctx, x))));
}

// min(x, 0) - log1p(exp(-|x|)), PyTorch's stable form.
void lower_logsigmoid(LowerContext& ctx) {
  Value* x = input(ctx);
  Value* tail = log1p_exp(ctx, emit_unary_op(ctx, "neg", emit_unary_op(ctx, "abs", x)));
  Value* low = emit_binary_op(ctx, "minimum", x, k(ctx, 0, x));
  ctx.set_output(0, emit_binary_op(ctx, "sub", low, tail));
}

// x > 0 ? x : alpha * (exp(x * (1 / alpha)) - 1).
void lower_celu(LowerContext& ctx) {
  Value* x = input(ctx);
  const double alpha = number(ctx, "alpha", 1.0);
  if (alpha == 0) throw LowerError("celu with alpha=0 is not defined (PyTorch refuses it too)");
  Value* scaled = alpha == 1.0 ? x : emit_binary_op(ctx, "mul", x, k(ctx, 1.0 / alpha, x));
  Value* negative = emit_binary_op(ctx, "sub", emit_unary_op(ctx, "exp", scaled), k(ctx, 1, x));
  if (alpha != 1.0) negative = emit_binary_op(ctx, "mul", negative, k(ctx, alpha, x));
  Value* positive = emit_binary_op(ctx, "greater", x, k(ctx, 0, x));
  ctx.set_output(0, emit_select(ctx, positive, x, negative));
}

// scale * elu(x, alpha) with SELU's constants.
void lower_selu(LowerContext& ctx) {
  constexpr double kAlpha = 1.6732632423543772848170429916717;
  constexpr double kScale = 1.0507009873554804934193349852946;
  Value* x = input(ctx);
  Attrs attrs;
  attrs.set("alpha", kAlpha);
  Value* elu = ctx.emit("elu", {x}, std::move(attrs), x->dtype, x->shape);
  ctx.set_output(0, emit_binary_op(ctx, "mul", elu, k(ctx, kScale, x)));
}

// In eval mode rrelu is a leaky ReLU with the mean of its slope range.
void lower_rrelu(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  if (a.has("training") && !a.is_none("training") && a.get_bool("training")) {
    throw LowerError(
        "rrelu in training mode draws a random slope per element at every call; convert the "
        "model in eval mode (model.eval()) or pass training=False");
  }
  const double lower = number(ctx, "lower", 1.0 / 8), upper = number(ctx, "upper", 1.0 / 3);
  Attrs attrs;
  attrs.set("alpha", (lower + upper) / 2);
  ctx.emit_output("leaky_relu", {input(ctx)}, std::move(attrs));
}

// x <= t ? value : x (threshold); |x| <= lambd ? 0 : x (hardshrink). NaN keeps x.
void lower_threshold(LowerContext& ctx) {
  Value* x = input(ctx);
  Value* at_or_below =
      emit_binary_op(ctx, "less_equal", x, k(ctx, ctx.attrs().get_float("threshold"), x));
  ctx.set_output(0, emit_select(ctx, at_or_below, k(ctx, ctx.attrs().get_float("value"), x), x));
}

void lower_hardshrink(LowerContext& ctx) {
  Value* x = input(ctx);
  Value* inside = emit_binary_op(ctx, "less_equal", emit_unary_op(ctx, "abs", x),
                                 k(ctx, number(ctx, "lambd", 0.5), x));
  ctx.set_output(0, emit_select(ctx, inside, k(ctx, 0, x), x));
}

// x - clamp(x, -lambd, lambd): x - lambd above, x + lambd below, 0 between, NaN kept.
void lower_softshrink(LowerContext& ctx) {
  Value* x = input(ctx);
  const double lambd = number(ctx, "lambd", 0.5);
  if (lambd < 0) throw LowerError("softshrink needs lambd >= 0, got " + std::to_string(lambd));
  Attrs attrs;
  attrs.set("min", -lambd);
  attrs.set("max", lambd);
  Value* clipped = ctx.emit("clip", {x}, std::move(attrs), x->dtype, x->shape);
  ctx.set_output(0, emit_binary_op(ctx, "sub", x, clipped));
}

void lower_tanhshrink(LowerContext& ctx) {
  Value* x = input(ctx);
  ctx.set_output(0, emit_binary_op(ctx, "sub", x, emit_unary_op(ctx, "tanh", x)));
}

void lower_softsign(LowerContext& ctx) {
  Value* x = input(ctx);
  Value* denominator = emit_binary_op(ctx, "add", emit_unary_op(ctx, "abs", x), k(ctx, 1, x));
  ctx.set_output(0, emit_binary_op(ctx, "div", x, denominator));
}

// glu: the first half of `dim` times the sigmoid of the second.
void lower_glu(LowerContext& ctx) {
  Value* x = input(ctx);
  const int64_t dim =
      normalize_axis(ctx.attrs().is_none("dim") ? -1 : ctx.attrs().get_int("dim"), x->rank());
  const int64_t size = x->shape[dim];
  if (size % 2 != 0) {
    throw LowerError("glu halves dim " + std::to_string(dim) + ", whose size " +
                     std::to_string(size) + " is odd");
  }
  Value* a = emit_axis_slice(ctx, x, dim, 0, size / 2);
  Value* b = emit_axis_slice(ctx, x, dim, size / 2, size);
  ctx.set_output(0, emit_binary_op(ctx, "mul", a, emit_unary_op(ctx, "sigmoid", b)));
}

// prelu: x > 0 ? x : weight * x, one weight or one per channel (dim 1).
void lower_prelu(LowerContext& ctx) {
  Value* x = input(ctx);
  Value* w = cast_to(ctx, ctx.in("weight"), x->dtype);
  const int64_t count = num_elements(w->shape);
  if (count != 1) {
    if (x->rank() < 2 || x->shape[1] != count) {
      throw LowerError("prelu has " + std::to_string(count) +
                       " weights, which must be 1 or the size of dim 1 of the input");
    }
    Shape shape(x->rank() - 1, 1);
    shape[0] = count;
    w = emit_reshape(ctx, w, shape);
  } else if (w->rank() != 0) {
    w = emit_reshape(ctx, w, {});
  }
  Value* positive = emit_binary_op(ctx, "greater", x, k(ctx, 0, x));
  ctx.set_output(0, emit_select(ctx, positive, x, emit_binary_op(ctx, "mul", w, x)));
}

// softmin(x) = softmax(-x) along `dim` (None picks the dim softmax would).
void lower_softmin(LowerContext& ctx) {
  Value* x = input(ctx);
  const size_t rank = x->rank();
  int64_t dim = 0;
  if (ctx.attrs().is_none("dim")) {
    dim = rank == 0 || rank == 1 || rank == 3 ? 0 : 1;
  } else {
    dim = normalize_axis(ctx.attrs().get_int("dim"), rank);
  }
  Attrs attrs;
  attrs.set("axis", dim);
  ctx.emit_output("softmax", {emit_unary_op(ctx, "neg", x)}, std::move(attrs));
}

}  // namespace

void register_activation_extra_rules(Registry& registry) {
  registry.add({act_names("softplus", false, false), lower_softplus,
                "where(beta x > threshold, x, log(1 + exp(beta x)) / beta)"});
  registry.add({act_names("mish", false, false, true) +
                    std::vector<std::string>{"torch._C._nn.mish", "torch._C._nn.mish_"},
                lower_mish, "x * tanh(log(1 + exp(x)))"});
  registry.add({{"torch.nn.functional.logsigmoid", "torch._C._nn.log_sigmoid",
                 "aten.log_sigmoid.default", "aten.log_sigmoid_forward.default"},
                lower_logsigmoid,
                "minimum(x, 0) - log(1 + exp(-|x|))"});
  registry.add({act_names("celu", true, false, true), lower_celu,
                "where(x > 0, x, alpha (exp(x / alpha) - 1))"});
  registry.add({act_names("selu", true, false, true), lower_selu, "elu * scale"});
  registry.add({act_names("rrelu", true, false, true), lower_rrelu,
                "leaky_relu ((lower + upper) / 2, eval mode)"});
  registry.add({act_names("threshold", true, false, true), lower_threshold,
                "where(x <= threshold, value, x)"});
  registry.add(
      {act_names("hardshrink", true, true), lower_hardshrink, "where(|x| <= lambd, 0, x)"});
  registry.add({act_names("softshrink", false, false), lower_softshrink, "x - clip"});
  registry.add({act_names("tanhshrink", false, false), lower_tanhshrink, "x - tanh(x)"});
  registry.add({act_names("softsign", false, false), lower_softsign, "x / (1 + |x|)"});
  registry.add({act_names("glu", false, false), lower_glu, "slice + sigmoid + mul"});
  registry.add(
      {act_names("prelu", true, true) + std::vector<std::string>{"aten._prelu_kernel.default"},
       lower_prelu, "where(x > 0, x, weight * x)"});
  registry.add({act_names("softmin", false, false), lower_softmin, "neg + softmax"});
}

}  // namespace ferry
