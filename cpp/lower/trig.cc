// Trigonometric and hyperbolic functions and their inverses. TFLite has SIN, COS and ATAN2 but
// no other trig builtin, so each function is a formula over TF-level ops chosen to stay within
// float32 rounding of PyTorch on the function's domain, and to give PyTorch's value at its
// edges: NaN outside asin/acos/acosh/atanh's domain (a square root or a log of a negative
// number), ±inf at atanh(±1), the right limit for large arguments (where a square would
// overflow, asinh/acosh switch to log(|x|) + ln 2).
#include <cmath>
#include <limits>
#include <numbers>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

constexpr double kLn2 = std::numbers::ln2;
// Above this |x|, x*x + 1 == x*x in float32 and (for float32's range) x*x may overflow:
// asinh(x) = log(2|x|) there.
constexpr double kLargeArgument = 1e18;

// torch.X, torch.X_, Tensor.X, Tensor.X_ and their aten overloads; `arc` adds NumPy's arcX.
std::vector<std::string> unary_names(const std::string& name, bool arc = false) {
  std::vector<std::string> out;
  for (const std::string& base : arc ? std::vector<std::string>{name, "arc" + name.substr(1)}
                                     : std::vector<std::string>{name}) {
    for (const std::string& spelling : {base, base + "_"}) {
      auto aliases = function_aliases(spelling, false, true, true);
      out.insert(out.end(), aliases.begin(), aliases.end());
    }
  }
  return out;
}

// The input in the result type: integer inputs compute in float32, as PyTorch's do.
Value* float_input(LowerContext& ctx) {
  return cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
}

Value* k(LowerContext& ctx, double value, const Value* like) {
  return typed_scalar(ctx, value, like->dtype);
}

Value* mul(LowerContext& ctx, Value* a, Value* b) { return emit_binary_op(ctx, "mul", a, b); }
Value* add(LowerContext& ctx, Value* a, Value* b) { return emit_binary_op(ctx, "add", a, b); }
Value* sub(LowerContext& ctx, Value* a, Value* b) { return emit_binary_op(ctx, "sub", a, b); }

// sqrt((1 - x)(1 + x)): 1 - x*x without its cancellation near |x| = 1; NaN for |x| > 1.
Value* sqrt_one_minus_square(LowerContext& ctx, Value* x) {
  Value* one = k(ctx, 1, x);
  return emit_unary_op(ctx, "sqrt", mul(ctx, sub(ctx, one, x), add(ctx, one, x)));
}

Value* atan2(LowerContext& ctx, Value* y, Value* x) { return emit_binary_op(ctx, "atan2", y, x); }

// e^(±x) / 2 as 2 exp(±x - ln 4): the scaling happens before exp can overflow, so sinh and
// cosh stay finite up to float32's largest result (LiteRT's EXP already returns inf above
// about 88.38, short of float32's 88.72).
Value* half_exp(LowerContext& ctx, Value* x) {
  Value* e = emit_unary_op(ctx, "exp", sub(ctx, x, k(ctx, 2 * kLn2, x)));
  return mul(ctx, e, k(ctx, 2, x));
}

// log(a + sqrt(a*a + offset)) for a >= 0 (asinh with offset 1, acosh with -1, as
// (a - 1)(a + 1) to avoid cancellation); log(2a) where a*a would overflow, computed as
// log(a / 2^32) + 33 ln 2 because LiteRT's LOG saturates at 88.38 for arguments above 2^127.5;
// inf stays inf.
Value* log_hypot_sum(LowerContext& ctx, Value* a, bool acosh) {
  Value* one = k(ctx, 1, a);
  Value* radicand =
      acosh ? mul(ctx, sub(ctx, a, one), add(ctx, a, one)) : add(ctx, mul(ctx, a, a), one);
  Value* near = emit_unary_op(ctx, "log", add(ctx, a, emit_unary_op(ctx, "sqrt", radicand)));
  Value* scaled = emit_unary_op(ctx, "log", mul(ctx, a, k(ctx, std::ldexp(1.0, -32), a)));
  Value* far = add(ctx, scaled, k(ctx, 33 * kLn2, a));
  Value* large = emit_binary_op(ctx, "greater", a, k(ctx, kLargeArgument, a));
  Value* inf = k(ctx, std::numeric_limits<double>::infinity(), a);
  Value* infinite = emit_binary_op(ctx, "equal", a, inf);
  return emit_select(ctx, infinite, inf, emit_select(ctx, large, far, near));
}

using Formula = Value* (*)(LowerContext&, Value*);

const std::pair<const char*, Formula> kFormulas[] = {
    {"tan",
     [](LowerContext& ctx, Value* x) {
       return emit_binary_op(ctx, "div", emit_unary_op(ctx, "sin", x),
                             emit_unary_op(ctx, "cos", x));
     }},
    {"sinh",
     [](LowerContext& ctx, Value* x) {
       return sub(ctx, half_exp(ctx, x), half_exp(ctx, emit_unary_op(ctx, "neg", x)));
     }},
    {"cosh",
     [](LowerContext& ctx, Value* x) {
       return add(ctx, half_exp(ctx, x), half_exp(ctx, emit_unary_op(ctx, "neg", x)));
     }},
    {"asin",
     [](LowerContext& ctx, Value* x) { return atan2(ctx, x, sqrt_one_minus_square(ctx, x)); }},
    {"acos",
     [](LowerContext& ctx, Value* x) { return atan2(ctx, sqrt_one_minus_square(ctx, x), x); }},
    {"atan", [](LowerContext& ctx, Value* x) { return atan2(ctx, x, k(ctx, 1, x)); }},
    {"asinh",
     [](LowerContext& ctx, Value* x) {
       // Odd: computed on |x|, the sign put back (NaN stays NaN: NaN < 0 is false).
       Value* r = log_hypot_sum(ctx, emit_unary_op(ctx, "abs", x), false);
       Value* negative = emit_binary_op(ctx, "less", x, k(ctx, 0, x));
       return emit_select(ctx, negative, emit_unary_op(ctx, "neg", r), r);
     }},
    {"acosh", [](LowerContext& ctx, Value* x) { return log_hypot_sum(ctx, x, true); }},
    {"atanh",
     [](LowerContext& ctx, Value* x) {
       // (log(1 + x) - log(1 - x)) / 2: ±inf at ±1 (log(0) = -inf), NaN beyond; no
       // intermediate overflows (LiteRT's LOG is finite at inf).
       Value* one = k(ctx, 1, x);
       Value* d = sub(ctx, emit_unary_op(ctx, "log", add(ctx, one, x)),
                      emit_unary_op(ctx, "log", sub(ctx, one, x)));
       return mul(ctx, d, k(ctx, 0.5, x));
     }},
};

const char* mapping_of(const std::string& name) {
  if (name == "tan") return "sin / cos";
  if (name == "sinh" || name == "cosh") return "2 exp(x - ln 4) -/+ 2 exp(-x - ln 4)";
  if (name == "asin" || name == "acos") return "atan2 with sqrt((1 - x)(1 + x))";
  if (name == "atan") return "atan2(x, 1)";
  if (name == "atanh") return "(log(1 + x) - log(1 - x)) / 2";
  return "log(|x| + sqrt(x^2 ± 1)) (log(2|x|) for huge |x|)";
}

// torch.atan2(input, other); arctan2 is its NumPy spelling.
void lower_atan2(LowerContext& ctx) {
  const DType dtype = ctx.torch_output().dtype;
  Value* y = cast_to(ctx, ctx.in(self_arg(ctx)), dtype);
  Value* x = cast_to(ctx, ctx.in("other"), dtype);
  ctx.set_output(0, atan2(ctx, y, x));
}

}  // namespace

void register_trig_rules(Registry& registry) {
  for (const auto& [name, formula] : kFormulas) {
    const std::string n = name;
    // The inverse functions also have NumPy's spellings (arcsin, arccosh, ...).
    registry.add({unary_names(n, n[0] == 'a'),
                  [f = formula](LowerContext& ctx) { ctx.set_output(0, f(ctx, float_input(ctx))); },
                  mapping_of(n)});
  }
  std::vector<std::string> ops = unary_names("atan2");
  ops.push_back("aten.atan2.out");
  auto arctan2 = function_aliases("arctan2", false, true, true);
  ops.insert(ops.end(), arctan2.begin(), arctan2.end());
  ops.insert(ops.end(), {"torch.Tensor.arctan2_", "aten.arctan2_.default"});
  registry.add({ops, lower_atan2, "atan2"});
}

}  // namespace ferry
