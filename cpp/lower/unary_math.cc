// Unary math beyond the TFLite builtins, as formulas over TF-level ops: exp/log variants,
// reciprocal, sign, trunc, square and the float classification predicates. Integer inputs of
// floating-only functions compute in float32 (the recorded result type), as PyTorch's do;
// functions PyTorch defines on integers (sign, trunc, square, isnan, ...) keep them.
#include <cmath>
#include <limits>
#include <numbers>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// torch.X, torch.X_, Tensor.X, Tensor.X_ and their aten overloads, plus `extra` spellings.
std::vector<std::string> unary_names(const std::string& name, bool in_place = true,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> out = function_aliases(name, false, true, true);
  if (in_place) {
    auto more = function_aliases(name + "_", false, true, true);
    out.insert(out.end(), more.begin(), more.end());
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

Value* result_input(LowerContext& ctx) {
  return cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
}

Value* k(LowerContext& ctx, double value, const Value* like) {
  return typed_scalar(ctx, value, like->dtype);
}

// log(x) / ln(base) for log2 / log10: the constant is rounded once, so the product is within
// an ulp or two of PyTorch's (log(0) = -inf and negative inputs' NaN carry through).
LowerFn scaled_log(double base) {
  return [base](LowerContext& ctx) {
    Value* x = result_input(ctx);
    ctx.set_output(0, emit_binary_op(ctx, "mul", emit_unary_op(ctx, "log", x),
                                     k(ctx, 1.0 / std::log(base), x)));
  };
}

// exp(x) - 1 and log(1 + x): absolute error within float32 rounding of 1 (1.2e-7) near 0,
// where PyTorch's dedicated kernels are more precise in relative terms.
void lower_expm1(LowerContext& ctx) {
  Value* x = result_input(ctx);
  ctx.set_output(0, emit_binary_op(ctx, "sub", emit_unary_op(ctx, "exp", x), k(ctx, 1, x)));
}

void lower_log1p(LowerContext& ctx) {
  Value* x = result_input(ctx);
  ctx.set_output(0, emit_unary_op(ctx, "log", emit_binary_op(ctx, "add", x, k(ctx, 1, x))));
}

void lower_reciprocal(LowerContext& ctx) {
  Value* x = result_input(ctx);
  ctx.set_output(0, emit_binary_op(ctx, "div", k(ctx, 1, x), x));
}

// (x > 0) - (x < 0): PyTorch's sign, 0 for NaN and for ±0; bool is its own sign.
void lower_sign(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  if (x->dtype == DType::kBool) {
    ctx.emit_output("identity", {x});
    return;
  }
  Value* zero = k(ctx, 0, x);
  Value* positive = cast_to(ctx, emit_binary_op(ctx, "greater", x, zero), x->dtype);
  Value* negative = cast_to(ctx, emit_binary_op(ctx, "less", x, zero), x->dtype);
  ctx.set_output(0, emit_binary_op(ctx, "sub", positive, negative));
}

// Rounds toward zero; integers are unchanged.
void lower_trunc(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  if (!is_floating(x->dtype)) {
    ctx.emit_output("identity", {x});
    return;
  }
  Value* negative = emit_binary_op(ctx, "less", x, k(ctx, 0, x));
  ctx.set_output(
      0, emit_select(ctx, negative, emit_unary_op(ctx, "ceil", x), emit_unary_op(ctx, "floor", x)));
}

void lower_square(LowerContext& ctx) {
  Value* x = result_input(ctx);
  ctx.set_output(0, emit_binary_op(ctx, "mul", x, x));
}

enum class FloatClass { kNan, kInf, kFinite, kPosInf, kNegInf };

// The predicates compare with constants: NaN is the one value unequal to itself, and
// |x| < inf is false for both infinities and NaN. Integer and bool tensors hold no NaN or
// infinity (x != x is all false, x == x all true).
LowerFn classify(FloatClass what) {
  return [what](LowerContext& ctx) {
    Value* x = ctx.in(self_arg(ctx));
    Value* out = nullptr;
    if (!is_floating(x->dtype)) {
      out = emit_binary_op(ctx, what == FloatClass::kFinite ? "equal" : "not_equal", x, x);
    } else {
      const double inf = std::numeric_limits<double>::infinity();
      switch (what) {
        case FloatClass::kNan:
          out = emit_binary_op(ctx, "not_equal", x, x);
          break;
        case FloatClass::kInf:
          out = emit_binary_op(ctx, "equal", emit_unary_op(ctx, "abs", x), k(ctx, inf, x));
          break;
        case FloatClass::kFinite:
          out = emit_binary_op(ctx, "less", emit_unary_op(ctx, "abs", x), k(ctx, inf, x));
          break;
        case FloatClass::kPosInf:
          out = emit_binary_op(ctx, "equal", x, k(ctx, inf, x));
          break;
        case FloatClass::kNegInf:
          out = emit_binary_op(ctx, "equal", x, k(ctx, -inf, x));
          break;
      }
    }
    ctx.set_output(0, out);
  };
}

}  // namespace

void register_unary_math_rules(Registry& registry) {
  registry.add({unary_names("expm1", true, {"torch.special.expm1"}), lower_expm1, "exp - 1"});
  registry.add({unary_names("log1p", true, {"torch.special.log1p"}), lower_log1p, "log(1 + x)"});
  registry.add({unary_names("log2"), scaled_log(2), "log * (1 / ln 2)"});
  registry.add({unary_names("log10"), scaled_log(10), "log * (1 / ln 10)"});
  registry.add({unary_names("reciprocal"), lower_reciprocal, "div (1 / x)"});
  registry.add({unary_names("sign"), lower_sign, "cast(x > 0) - cast(x < 0)"});
  registry.add({unary_names("sgn"), lower_sign, "cast(x > 0) - cast(x < 0)"});
  registry.add({unary_names("trunc"), lower_trunc, "where(x < 0, ceil, floor)"});
  registry.add({unary_names("fix"), lower_trunc, "where(x < 0, ceil, floor)"});
  registry.add({unary_names("square"), lower_square, "mul (x * x)"});
  registry.add({unary_names("isnan", false), classify(FloatClass::kNan), "not_equal (x != x)"});
  registry.add({unary_names("isinf", false), classify(FloatClass::kInf), "equal(abs, inf)"});
  registry.add({unary_names("isfinite", false), classify(FloatClass::kFinite), "less(abs, inf)"});
  registry.add({unary_names("isposinf", false), classify(FloatClass::kPosInf), "equal(x, inf)"});
  registry.add({unary_names("isneginf", false), classify(FloatClass::kNegInf), "equal(x, -inf)"});
}

}  // namespace ferry
