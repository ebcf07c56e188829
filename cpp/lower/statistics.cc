// Statistics over dims: var / std (and var_mean / std_mean), logsumexp, vector norms, any /
// all and count_nonzero, composed from the TF-level reductions (docs/tf_ops.md). Axes use
// PyTorch numbering and are listed explicitly (`dim=None` means every dim).
#include <algorithm>
#include <cmath>
#include <limits>
#include <variant>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

bool keepdim(const Attrs& attrs) {
  return attrs.has("keepdim") && !attrs.is_none("keepdim") && attrs.get_bool("keepdim");
}

Value* k(LowerContext& ctx, double value, const Value* like) {
  return typed_scalar(ctx, value, like->dtype);
}

// Binds output i to v, reshaped to the recorded shape when the kept dims differ.
void bind(LowerContext& ctx, Value* v, size_t i) {
  const Shape& shape = ctx.torch_output(i).shape;
  ctx.set_output(i, v->shape == shape ? v : emit_reshape(ctx, v, shape));
}

// The Bessel correction: `correction` (aten.var.correction, torch.var(correction=)), else
// `unbiased` (True: 1), else 1.
double correction_of(const Attrs& attrs) {
  if (attrs.has("correction") && !attrs.is_none("correction")) return attrs.get_float("correction");
  if (attrs.has("unbiased") && !attrs.is_none("unbiased"))
    return attrs.get_bool("unbiased") ? 1.0 : 0.0;
  return 1.0;
}

// var, std, var_mean, std_mean: sum((x - mean)^2) / max(N - correction, 0), N the number of
// reduced elements (a zero divisor gives inf or NaN, as in PyTorch); std is its sqrt.
void lower_moments(LowerContext& ctx, bool is_std, bool with_mean) {
  Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
  if (!is_floating(x->dtype)) throw LowerError("var and std need a floating-point input");
  const auto axes = reduction_axes(ctx.attrs(), x->rank());
  const bool keep = keepdim(ctx.attrs());
  double count = 1;
  for (int64_t a : axes) count *= static_cast<double>(x->shape[a]);
  Value* mean = emit_reduction(ctx, "mean", x, axes, true);
  Value* centered = emit_binary_op(ctx, "sub", x, mean);
  Value* squares = emit_binary_op(ctx, "mul", centered, centered);
  Value* sum = emit_reduction(ctx, "sum", squares, axes, keep);
  const double divisor = std::max(count - correction_of(ctx.attrs()), 0.0);
  Value* result = emit_binary_op(ctx, "div", sum, k(ctx, divisor, x));
  if (is_std) result = emit_unary_op(ctx, "sqrt", result);
  bind(ctx, result, 0);
  if (with_mean) bind(ctx, mean, 1);
}

// PyTorch's stable form: m = amax, with infinite maxima replaced by 0 (so -inf rows give
// log(0) = -inf and +inf rows inf, not NaN), then log(sum(exp(x - m))) + m, and inf where
// the maximum is +inf.
void lower_logsumexp(LowerContext& ctx) {
  Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
  const auto axes = reduction_axes(ctx.attrs(), x->rank());
  Value* m = emit_reduction(ctx, "max", x, axes, true);
  Value* infinite = emit_binary_op(ctx, "equal", emit_unary_op(ctx, "abs", m),
                                   k(ctx, std::numeric_limits<double>::infinity(), m));
  Value* shift = emit_select(ctx, infinite, k(ctx, 0, m), m);
  Value* e = emit_unary_op(ctx, "exp", emit_binary_op(ctx, "sub", x, shift));
  Value* s = emit_reduction(ctx, "sum", e, axes, true);
  Value* r = emit_binary_op(ctx, "add", emit_unary_op(ctx, "log", s), shift);
  // A +inf maximum makes the sum inf, whose log LiteRT's LOG saturates at 88.38: it is inf.
  Value* inf = k(ctx, std::numeric_limits<double>::infinity(), m);
  bind(ctx, emit_select(ctx, emit_binary_op(ctx, "equal", m, inf), inf, r), 0);
}

// The norm's order: torch.norm's `p` (None and "fro" are 2; "nuc" is a matrix norm), or
// vector_norm's `ord`.
double norm_order(const LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  const std::string name = a.has("ord") ? "ord" : "p";
  if (!a.has(name) || a.is_none(name)) return 2.0;
  const Attr& p = a.at(name);
  if (const auto* s = std::get_if<std::string>(&p)) {
    if (*s == "fro") return 2.0;
    throw LowerError("norm with p='" + *s +
                     "' (a matrix norm) is not supported; vector norms (numeric p) are");
  }
  return a.get_float(name);
}

// ||x||_p over the dims: sum |x|^p ^ (1/p), with PyTorch's special orders: 2 (sqrt of a sum
// of squares), 1, inf (max |x|), -inf (min |x|) and 0 (the count of non-zeros).
void lower_vector_norm(LowerContext& ctx) {
  Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
  if (!is_floating(x->dtype)) throw LowerError("norm needs a floating-point input");
  const double p = norm_order(ctx);
  const auto axes = reduction_axes(ctx.attrs(), x->rank());
  const bool keep = keepdim(ctx.attrs());
  Value* result = nullptr;
  if (p == 2.0) {
    result = emit_unary_op(
        ctx, "sqrt", emit_reduction(ctx, "sum", emit_binary_op(ctx, "mul", x, x), axes, keep));
  } else if (p == 0.0) {
    Value* nonzero = cast_to(ctx, emit_binary_op(ctx, "not_equal", x, k(ctx, 0, x)), x->dtype);
    result = emit_reduction(ctx, "sum", nonzero, axes, keep);
  } else {
    Value* a = emit_unary_op(ctx, "abs", x);
    if (p == 1.0) {
      result = emit_reduction(ctx, "sum", a, axes, keep);
    } else if (std::isinf(p)) {
      result = emit_reduction(ctx, p > 0 ? "max" : "min", a, axes, keep);
    } else if (std::isnan(p)) {
      throw LowerError("norm with p=nan is not defined");
    } else {
      Value* powers = emit_binary_op(ctx, "pow", a, k(ctx, p, a));
      result = emit_binary_op(ctx, "pow", emit_reduction(ctx, "sum", powers, axes, keep),
                              k(ctx, 1.0 / p, a));
    }
  }
  bind(ctx, result, 0);
}

// any / all: bool max / min over the dims (uint8 inputs give uint8, as PyTorch's do).
LowerFn any_all(const std::string& op) {
  return [op](LowerContext& ctx) {
    Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), DType::kBool);
    const auto axes = reduction_axes(ctx.attrs(), x->rank());
    Value* r = emit_reduction(ctx, op, x, axes, keepdim(ctx.attrs()));
    bind(ctx, cast_to(ctx, r, ctx.torch_output().dtype), 0);
  };
}

// count_nonzero: an int64 sum of (x != 0).
void lower_count_nonzero(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  Value* zero = typed_scalar(ctx, 0, x->dtype);
  Value* nonzero = cast_to(ctx, emit_binary_op(ctx, "not_equal", x, zero), DType::kInt64);
  const auto axes = reduction_axes(ctx.attrs(), x->rank());
  bind(ctx, emit_reduction(ctx, "sum", nonzero, axes, false), 0);
}

}  // namespace

void register_statistics_rules(Registry& registry) {
  const std::vector<std::string> overloads = {"default", "dim", "correction", "correction_names"};
  registry.add({torch_names("var", overloads),
                [](LowerContext& ctx) { lower_moments(ctx, false, false); },
                "mean + sub + mul + sum + div"});
  registry.add({torch_names("std", overloads),
                [](LowerContext& ctx) { lower_moments(ctx, true, false); },
                "mean + sub + mul + sum + div + sqrt"});
  registry.add({torch_names("var_mean", overloads),
                [](LowerContext& ctx) { lower_moments(ctx, false, true); },
                "mean + sub + mul + sum + div"});
  registry.add({torch_names("std_mean", overloads),
                [](LowerContext& ctx) { lower_moments(ctx, true, true); },
                "mean + sub + mul + sum + div + sqrt"});
  registry.add(
      {torch_names("logsumexp", {"default"}) + std::vector<std::string>{"torch.special.logsumexp"},
       lower_logsumexp, "max + where + sub + exp + sum + log + add"});
  registry.add(
      {torch_names("norm", {"ScalarOpt_dim", "ScalarOpt_dim_dtype", "Scalar", "ScalarOpt_dtype"}) +
           std::vector<std::string>{"torch.linalg.vector_norm", "aten.linalg_vector_norm.default"},
       lower_vector_norm, "sum/max/min of abs, squares or powers (+ sqrt / pow)"});
  registry.add({torch_names("any", {"default", "dim", "dims"}), any_all("max"),
                "max of bool (TFLite REDUCE_ANY)"});
  registry.add({torch_names("all", {"default", "dim", "dims"}), any_all("min"),
                "min of bool (TFLite REDUCE_ALL)"});
  registry.add({torch_names("count_nonzero", {"default", "dim_IntList"}), lower_count_nonzero,
                "sum of cast(x != 0)"});
}

}  // namespace ferry
