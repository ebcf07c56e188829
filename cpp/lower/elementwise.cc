// Arithmetic and elementwise math. Operands are cast to the result type PyTorch's promotion
// chose (the recorded output dtype), and Python numbers become 0-d constants of that type, so
// the back ends never have to promote. Where PyTorch computes a result by a specific formula
// (`2 / x` is `x.reciprocal() * 2`, `x ** 3` is `x * x * x`) the lowering follows the formula,
// so the converted model rounds as PyTorch does.
#include <cmath>
#include <tuple>
#include <variant>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// PyTorch's CPU kernels for the exponents pow() special-cases compute float16 in float32 and
// round once; bfloat16 rounds after every step (measured against PyTorch 2.x).
DType pow_compute_type(DType dtype) { return dtype == DType::kFloat16 ? DType::kFloat32 : dtype; }

// Both carry free sizes along (ir/dims.h), so every rule built from them takes them.
Value* binary(LowerContext& ctx, const std::string& op, Value* a, Value* b, DType dtype) {
  return ctx.emit(op, {a, b}, {}, dtype, broadcast_shapes(a->shape, b->shape),
                  broadcast_sym(*a, *b));
}

Value* unary(LowerContext& ctx, const std::string& op, Value* x) {
  return ctx.emit(op, {x}, {}, x->dtype, x->shape, x->sym);
}

// Binds output 0 to v in the recorded output type.
void finish(LowerContext& ctx, Value* v) {
  ctx.set_output(0, cast_to(ctx, v, ctx.torch_output().dtype));
}

// `arg` scaled by the call's `alpha` (add/sub/rsub); two numbers fold into one constant.
Value* scaled_operand(LowerContext& ctx, const std::string& arg, DType dtype) {
  const Attrs& attrs = ctx.attrs();
  if (attrs.is_none("alpha") || attrs.get_float("alpha") == 1.0) return operand(ctx, arg, dtype);
  const Attr& alpha = attrs.at("alpha");
  if (Value* t = ctx.in_opt(arg)) {
    Value* x = cast_to(ctx, t, dtype);
    return binary(ctx, "mul", x, number(ctx, alpha, dtype), dtype);
  }
  if (attrs.is_none(arg)) throw LowerError("missing operand '" + arg + "'");
  const Attr& value = attrs.at(arg);
  if (std::holds_alternative<int64_t>(value) && std::holds_alternative<int64_t>(alpha)) {
    return number(ctx, std::get<int64_t>(value) * std::get<int64_t>(alpha), dtype);
  }
  return number(ctx, attrs.get_float(arg) * attrs.get_float("alpha"), dtype);
}

// input + alpha * other; rsub (`reversed`) is other - alpha * input.
void lower_add_sub(LowerContext& ctx, bool subtract, bool reversed) {
  const DType dtype = ctx.torch_output().dtype;
  const std::string self = self_arg(ctx);
  Value* a = operand(ctx, reversed ? "other" : self, dtype);
  Value* b = scaled_operand(ctx, reversed ? self : "other", dtype);
  if (dtype == DType::kBool) {
    if (subtract) throw LowerError("subtraction of bool tensors is not defined");
    ctx.emit_output("logical_or", {a, b});  // PyTorch's bool + bool
    return;
  }
  ctx.emit_output(subtract ? "sub" : "add", {a, b});
}

void lower_mul(LowerContext& ctx) {
  const DType dtype = ctx.torch_output().dtype;
  Value* a = operand(ctx, self_arg(ctx), dtype);
  Value* b = operand(ctx, "other", dtype);
  ctx.emit_output(dtype == DType::kBool ? "logical_and" : "mul", {a, b});
}

// trunc(a / b) from floor and ceil, exact for every input.
Value* trunc_div(LowerContext& ctx, Value* a, Value* b, DType dtype) {
  const Shape shape = broadcast_shapes(a->shape, b->shape);
  Value* zero = typed_scalar(ctx, 0, dtype);
  if (is_floating(dtype)) {
    Value* q = binary(ctx, "div", a, b, dtype);
    Value* negative = binary(ctx, "less", q, zero, DType::kBool);
    return ctx.emit("where", {negative, unary(ctx, "ceil", q), unary(ctx, "floor", q)}, {}, dtype,
                    shape, q->sym);
  }
  // Integers: the floored quotient is one too small when the division is inexact and the
  // operands' signs differ.
  Value* q = binary(ctx, "floor_div", a, b, dtype);
  Value* r = binary(ctx, "sub", a, binary(ctx, "mul", q, b, dtype), dtype);
  Value* inexact = binary(ctx, "not_equal", r, zero, DType::kBool);
  Value* a_negative = binary(ctx, "less", a, zero, DType::kBool);
  Value* b_negative = binary(ctx, "less", b, zero, DType::kBool);
  Value* signs = binary(ctx, "not_equal", a_negative, b_negative, DType::kBool);
  Value* fix = binary(ctx, "logical_and", inexact, signs, DType::kBool);
  return binary(ctx, "add", q, cast_to(ctx, fix, dtype), dtype);
}

void lower_div(LowerContext& ctx, const std::string& lhs, const std::string& rhs,
               const std::string& mode) {
  const DType dtype = ctx.torch_output().dtype;
  if (mode.empty()) {
    ctx.emit_output("div", {operand(ctx, lhs, dtype), operand(ctx, rhs, dtype)});
    return;
  }
  // Half-precision operands stay in their type: PyTorch truncates the rounded half quotient.
  Value* a = operand(ctx, lhs, dtype);
  Value* b = operand(ctx, rhs, dtype);
  if (mode == "floor") {
    ctx.set_output(0, binary(ctx, "floor_div", a, b, dtype));
  } else if (mode == "trunc") {
    ctx.set_output(0, trunc_div(ctx, a, b, dtype));
  } else {
    throw LowerError("unknown rounding_mode '" + mode + "'");
  }
}

std::string rounding_mode(LowerContext& ctx) {
  const Attrs& attrs = ctx.attrs();
  return attrs.is_none("rounding_mode") ? "" : attrs.get_string("rounding_mode");
}

// Tensor.__rdiv__ is `self.reciprocal() * other`, which rounds differently from other / self.
void lower_rdiv(LowerContext& ctx) {
  const DType dtype = ctx.torch_output().dtype;
  Value* x = operand(ctx, self_arg(ctx), dtype);
  Value* reciprocal = binary(ctx, "div", typed_scalar(ctx, 1, dtype), x, dtype);
  ctx.emit_output("mul", {reciprocal, operand(ctx, "other", dtype)});
}

// PyTorch evaluates these float exponents by a formula rather than by pow(); reproducing the
// formula gives its exact rounding. Returns nullptr for other exponents.
Value* pow_special(LowerContext& ctx, Value* x, double e) {
  const DType dtype = x->dtype;
  auto reciprocal = [&](Value* v) {
    return binary(ctx, "div", typed_scalar(ctx, 1, dtype), v, dtype);
  };
  if (e == 2) return binary(ctx, "mul", x, x, dtype);
  if (e == 3) return binary(ctx, "mul", binary(ctx, "mul", x, x, dtype), x, dtype);
  if (e == 0.5) return unary(ctx, "sqrt", x);
  if (e == -0.5) return unary(ctx, "rsqrt", x);
  if (e == -1) return reciprocal(x);
  if (e == -2) return reciprocal(binary(ctx, "mul", x, x, dtype));
  return nullptr;
}

void lower_pow(LowerContext& ctx, const std::string& base, const std::string& exponent) {
  const DType dtype = ctx.torch_output().dtype;
  const Attrs& attrs = ctx.attrs();
  if (ctx.has_tensor(base) && !ctx.has_tensor(exponent) && is_floating(dtype) &&
      !attrs.is_none(exponent)) {
    Value* x = operand(ctx, base, pow_compute_type(dtype));
    if (Value* v = pow_special(ctx, x, attrs.get_float(exponent))) {
      finish(ctx, v);
      return;
    }
  }
  ctx.emit_output("pow", {operand(ctx, base, dtype), operand(ctx, exponent, dtype)});
}

// Tensor.pow binds its exponent as `exponent`, the dunders as `other`.
std::string exponent_arg(LowerContext& ctx) {
  return ctx.has_tensor("exponent") || ctx.attrs().has("exponent") ? "exponent" : "other";
}

// Tensor.__rpow__ (`2 ** x`): the tracer binds the number as `other` or, matching it to
// pow's signature, as `exponent`; either way it is the base.
std::string reflected_base_arg(LowerContext& ctx) {
  return ctx.has_tensor("other") || ctx.attrs().has("other") ? "other" : "exponent";
}

// torch.clamp's bounds may be numbers (-> one `clip`) or tensors (-> maximum / minimum).
// PyTorch applies min first, then max, so min > max yields max.
void lower_clamp(LowerContext& ctx, const std::string& min_arg, const std::string& max_arg) {
  const DType dtype = ctx.torch_output().dtype;
  const Attrs& attrs = ctx.attrs();
  const bool min_tensor = ctx.has_tensor(min_arg), max_tensor = ctx.has_tensor(max_arg);
  const bool min_number = !min_tensor && !attrs.is_none(min_arg);
  const bool max_number = !max_tensor && !attrs.is_none(max_arg);
  if (!min_tensor && !max_tensor && !min_number && !max_number) {
    throw LowerError("clamp needs at least one of 'min' and 'max'");
  }
  Value* x = operand(ctx, self_arg(ctx), dtype);
  auto clip = [&](Value* v, bool with_min, bool with_max) {
    Attrs clip_attrs;
    clip_attrs.set("min", with_min ? Attr(attrs.get_float(min_arg)) : Attr());
    clip_attrs.set("max", with_max ? Attr(attrs.get_float(max_arg)) : Attr());
    return ctx.emit("clip", {v}, std::move(clip_attrs), dtype, v->shape, v->sym);
  };
  if (min_number && (max_number || !max_tensor)) {
    x = clip(x, true, max_number);
  } else {
    if (min_number) x = clip(x, true, false);
    if (min_tensor) x = binary(ctx, "maximum", x, operand(ctx, min_arg, dtype), dtype);
    if (max_number) x = clip(x, false, true);
  }
  if (max_tensor) x = binary(ctx, "minimum", x, operand(ctx, max_arg, dtype), dtype);
  ctx.set_output(0, x);
}

LowerFn binary_rule(const std::string& tf_op) {
  return [tf_op](LowerContext& ctx) {
    const DType dtype = ctx.torch_output().dtype;
    ctx.emit_output(tf_op, {operand(ctx, self_arg(ctx), dtype), operand(ctx, "other", dtype)});
  };
}

// Unary math: integer and bool inputs of floating-only functions are computed in the result
// type (float32), as PyTorch does.
LowerFn unary_rule(const std::string& tf_op) {
  return [tf_op](LowerContext& ctx) {
    ctx.emit_output(tf_op, {cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype)});
  };
}

int category(DType d) { return d == DType::kBool ? 0 : is_floating(d) ? 2 : 1; }

// The wider of two types of one category, as torch.promote_types.
DType wider(DType a, DType b) {
  if (a == b) return a;
  if (is_floating(a)) {
    if (dtype_size(a) == dtype_size(b)) return DType::kFloat32;  // float16 with bfloat16
    return dtype_size(a) > dtype_size(b) ? a : b;
  }
  if (a == DType::kUInt8 || b == DType::kUInt8) {
    const DType other = a == DType::kUInt8 ? b : a;
    return other == DType::kInt8 ? DType::kInt16 : other;
  }
  return dtype_size(a) > dtype_size(b) ? a : b;
}

// The type PyTorch computes a comparison in: the promotion of its operands, each a tensor or a
// Python number (torch.result_type; the default float type is float32). A higher category
// wins; within one, a dimensioned tensor beats a 0-d one, which beats a number.
DType promoted(LowerContext& ctx, const std::string& a, const std::string& b) {
  Value *ta = ctx.in_opt(a), *tb = ctx.in_opt(b);
  if (ta && tb) {
    const int ca = category(ta->dtype), cb = category(tb->dtype);
    if (ca != cb) return ca > cb ? ta->dtype : tb->dtype;
    if ((ta->rank() == 0) != (tb->rank() == 0)) return ta->rank() > 0 ? ta->dtype : tb->dtype;
    return wider(ta->dtype, tb->dtype);
  }
  Value* t = ta ? ta : tb;
  const std::string& number = ta ? b : a;
  if (!t) throw LowerError("expected a tensor operand");
  if (ctx.attrs().is_none(number)) throw LowerError("missing operand '" + number + "'");
  const Attr& value = ctx.attrs().at(number);
  const int cn = std::holds_alternative<double>(value)    ? 2
                 : std::holds_alternative<int64_t>(value) ? 1
                                                          : 0;
  if (cn <= category(t->dtype)) return t->dtype;
  return cn == 2 ? DType::kFloat32 : DType::kInt64;
}

// eq, ne, lt, le, gt, ge: a bool result (in-place forms store it in the input's type).
LowerFn comparison_rule(const std::string& tf_op) {
  return [tf_op](LowerContext& ctx) {
    const std::string self = self_arg(ctx);
    const DType type = promoted(ctx, self, "other");
    Value* a = operand(ctx, self, type);
    Value* b = operand(ctx, "other", type);
    finish(ctx, binary(ctx, tf_op, a, b, DType::kBool));
  };
}

// logical_and / logical_or / logical_xor (not_equal of bools): nonzero operands are true.
LowerFn logical_rule(const std::string& tf_op) {
  return [tf_op](LowerContext& ctx) {
    Value* a = cast_to(ctx, ctx.in(self_arg(ctx)), DType::kBool);
    Value* b = cast_to(ctx, ctx.in("other"), DType::kBool);
    finish(ctx, binary(ctx, tf_op, a, b, DType::kBool));
  };
}

// `&`, `|`, `^`, `~` on bool tensors are the logical ops; on integers they work on bits,
// which no TF-level op does.
LowerFn bitwise_rule(const std::string& tf_op) {
  return [tf_op](LowerContext& ctx) {
    if (ctx.torch_output().dtype != DType::kBool)
      throw LowerError("bitwise ops on integer tensors are not supported yet");
    Value* a = operand(ctx, self_arg(ctx), DType::kBool);
    if (tf_op == "logical_not") {
      ctx.emit_output(tf_op, {a});
      return;
    }
    ctx.emit_output(tf_op, {a, operand(ctx, "other", DType::kBool)});
  };
}

// torch.where(condition, input, other). Tensor.where(condition, other) is left to its aten
// call: the tracer binds the method with torch.where's parameter order. The one-argument form
// (nonzero) has a data-dependent shape.
void lower_where(LowerContext& ctx) {
  const bool positional = ctx.has_tensor("arg0") && !ctx.has_tensor("condition");
  const std::string cond = positional ? "arg0" : "condition";
  // `input` may be a Python number (torch.where(c, 1.5, x)): then it is an attribute.
  const std::string self = positional                                            ? "arg1"
                           : ctx.has_tensor("input") || ctx.attrs().has("input") ? "input"
                                                                                 : "self";
  const std::string other = positional ? "arg2" : "other";
  if (!ctx.has_tensor(other) && (!ctx.attrs().has(other) || ctx.attrs().is_none(other)))
    throw LowerError("torch.where(condition) (the indices of nonzero elements) is not supported");
  const DType dtype = ctx.torch_output().dtype;
  Value* c = cast_to(ctx, ctx.in(cond), DType::kBool);
  ctx.emit_output("where", {c, operand(ctx, self, dtype), operand(ctx, other, dtype)});
}

// torch.X, Tensor.X, Tensor.X_ and their aten overloads.
std::vector<std::string> names(const std::string& name,
                               const std::vector<std::string>& aten = {"default"}) {
  std::vector<std::string> out = {"torch." + name, "torch.Tensor." + name,
                                  "torch.Tensor." + name + "_"};
  for (const std::string& overload : aten) {
    out.push_back("aten." + name + "." + overload);
    out.push_back("aten." + name + "_." + overload);
  }
  return out;
}

void add_unary_math(Registry& registry, const std::string& name, const std::string& tf_op,
                    const std::vector<std::string>& extra = {}) {
  registry.add({names(name) + extra, unary_rule(tf_op), tf_op, /*free_sizes=*/true});
}

}  // namespace

void register_elementwise_rules(Registry& registry) {
  registry.add({names("add", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__add__", "torch.Tensor.__radd__",
                                             "torch.Tensor.__iadd__"},
                [](LowerContext& ctx) { lower_add_sub(ctx, false, false); }, "add (+ mul by alpha)",
                /*free_sizes=*/true});
  registry.add({names("sub", {"Tensor", "Scalar"}) + names("subtract", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__sub__", "torch.Tensor.__isub__"},
                [](LowerContext& ctx) { lower_add_sub(ctx, true, false); }, "sub (+ mul by alpha)",
                /*free_sizes=*/true});
  registry.add({{"torch.rsub", "torch.Tensor.__rsub__", "aten.rsub.Tensor", "aten.rsub.Scalar"},
                [](LowerContext& ctx) { lower_add_sub(ctx, true, true); },
                "sub (+ mul by alpha)",
                /*free_sizes=*/true});
  registry.add({names("mul", {"Tensor", "Scalar"}) + names("multiply", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__mul__", "torch.Tensor.__rmul__",
                                             "torch.Tensor.__imul__"},
                lower_mul, "mul", /*free_sizes=*/true});
  registry.add(
      {names("div", {"Tensor", "Scalar", "Tensor_mode", "Scalar_mode"}) +
           names("divide", {"Tensor", "Scalar", "Tensor_mode", "Scalar_mode"}) +
           names("true_divide", {"Tensor", "Scalar"}) +
           std::vector<std::string>{"torch.Tensor.__truediv__", "torch.Tensor.__itruediv__",
                                    "torch.Tensor.__idiv__", "torch.Tensor.__div__"},
       [](LowerContext& ctx) { lower_div(ctx, self_arg(ctx), "other", rounding_mode(ctx)); },
       "div (rounding_mode: floor_div, or trunc from floor/ceil)", /*free_sizes=*/true});
  registry.add({{"torch.Tensor.__rtruediv__", "torch.Tensor.__rdiv__"},
                lower_rdiv,
                "div + mul",
                /*free_sizes=*/true});
  registry.add(
      {names("floor_divide", {"default", "Scalar"}) +
           std::vector<std::string>{"torch.Tensor.__floordiv__", "torch.Tensor.__ifloordiv__"},
       [](LowerContext& ctx) { lower_div(ctx, self_arg(ctx), "other", "floor"); }, "floor_div",
       /*free_sizes=*/true});
  registry.add({{"torch.Tensor.__rfloordiv__"},
                [](LowerContext& ctx) { lower_div(ctx, "other", self_arg(ctx), "floor"); },
                "floor_div",
                /*free_sizes=*/true});
  registry.add({names("pow", {"Tensor_Tensor", "Tensor_Scalar", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__pow__", "torch.Tensor.__ipow__"},
                [](LowerContext& ctx) { lower_pow(ctx, self_arg(ctx), exponent_arg(ctx)); },
                "pow (mul/sqrt/rsqrt/div for exponents PyTorch special-cases)",
                /*free_sizes=*/true});
  registry.add({{"torch.Tensor.__rpow__"},
                [](LowerContext& ctx) { lower_pow(ctx, reflected_base_arg(ctx), self_arg(ctx)); },
                "pow",
                /*free_sizes=*/true});
  registry.add({names("maximum"), binary_rule("maximum"), "maximum", /*free_sizes=*/true});
  registry.add({names("minimum"), binary_rule("minimum"), "minimum", /*free_sizes=*/true});

  registry.add({names("clamp", {"default", "Tensor"}) + names("clip", {"default", "Tensor"}),
                [](LowerContext& ctx) { lower_clamp(ctx, "min", "max"); },
                "clip (tensor bounds: maximum / minimum)", /*free_sizes=*/true});
  registry.add({names("clamp_min", {"default", "Tensor"}),
                [](LowerContext& ctx) { lower_clamp(ctx, "min", "max"); }, "clip or maximum",
                /*free_sizes=*/true});
  registry.add({names("clamp_max", {"default", "Tensor"}),
                [](LowerContext& ctx) { lower_clamp(ctx, "min", "max"); }, "clip or minimum",
                /*free_sizes=*/true});
  registry.add({{"torch.nn.functional.hardtanh", "torch.nn.functional.hardtanh_",
                 "aten.hardtanh.default", "aten.hardtanh_.default"},
                [](LowerContext& ctx) { lower_clamp(ctx, "min_val", "max_val"); },
                "clip",
                /*free_sizes=*/true});

  for (const auto& [name, tf_op, alias] : {std::tuple{"eq", "equal", "__eq__"},
                                           {"ne", "not_equal", "__ne__"},
                                           {"lt", "less", "__lt__"},
                                           {"le", "less_equal", "__le__"},
                                           {"gt", "greater", "__gt__"},
                                           {"ge", "greater_equal", "__ge__"}}) {
    // torch.not_equal, torch.less, ... are aliases; torch.equal compares whole tensors.
    auto ops = names(name, {"Tensor", "Scalar"}) +
               std::vector<std::string>{std::string("torch.Tensor.") + alias};
    if (std::string(tf_op) != "equal") ops = ops + names(tf_op, {"Tensor", "Scalar"});
    registry.add({ops, comparison_rule(tf_op), tf_op, /*free_sizes=*/true});
  }
  registry.add(
      {names("logical_and"), logical_rule("logical_and"), "logical_and", /*free_sizes=*/true});
  registry.add(
      {names("logical_or"), logical_rule("logical_or"), "logical_or", /*free_sizes=*/true});
  registry.add({names("logical_xor"), logical_rule("not_equal"), "not_equal (of bools)",
                /*free_sizes=*/true});
  registry.add({names("logical_not"),
                [](LowerContext& ctx) {
                  Value* x = cast_to(ctx, ctx.in(self_arg(ctx)), DType::kBool);
                  finish(ctx, unary(ctx, "logical_not", x));
                },
                "logical_not", /*free_sizes=*/true});
  registry.add({names("bitwise_and", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__and__", "torch.Tensor.__iand__",
                                             "torch.Tensor.__rand__"},
                bitwise_rule("logical_and"), "logical_and (bool only)", /*free_sizes=*/true});
  registry.add({names("bitwise_or", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__or__", "torch.Tensor.__ior__",
                                             "torch.Tensor.__ror__"},
                bitwise_rule("logical_or"), "logical_or (bool only)", /*free_sizes=*/true});
  registry.add({names("bitwise_xor", {"Tensor", "Scalar"}) +
                    std::vector<std::string>{"torch.Tensor.__xor__", "torch.Tensor.__ixor__",
                                             "torch.Tensor.__rxor__"},
                bitwise_rule("not_equal"), "not_equal (bool only)", /*free_sizes=*/true});
  registry.add({names("bitwise_not") + std::vector<std::string>{"torch.Tensor.__invert__"},
                bitwise_rule("logical_not"), "logical_not (bool only)", /*free_sizes=*/true});
  registry.add({{"torch.where", "aten.where.self", "aten.where.ScalarSelf",
                 "aten.where.ScalarOther", "aten.where.Scalar"},
                lower_where,
                "where",
                /*free_sizes=*/true});

  add_unary_math(registry, "neg", "neg",
                 names("negative") + std::vector<std::string>{"torch.Tensor.__neg__"});
  add_unary_math(registry, "abs", "abs",
                 names("absolute") + std::vector<std::string>{"torch.Tensor.__abs__"});
  add_unary_math(registry, "exp", "exp");
  add_unary_math(registry, "log", "log");
  add_unary_math(registry, "sqrt", "sqrt");
  add_unary_math(registry, "rsqrt", "rsqrt");
  add_unary_math(registry, "erf", "erf", {"torch.special.erf"});
  add_unary_math(registry, "floor", "floor");
  add_unary_math(registry, "ceil", "ceil");
  add_unary_math(registry, "sin", "sin");
  add_unary_math(registry, "cos", "cos");
  registry.add({names("positive") + std::vector<std::string>{"torch.Tensor.__pos__"},
                unary_rule("identity"), "identity", /*free_sizes=*/true});
  registry.add({names("round", {"default", "decimals"}),
                [](LowerContext& ctx) {
                  const Attrs& attrs = ctx.attrs();
                  if (!attrs.is_none("decimals") && attrs.get_int("decimals") != 0) {
                    throw LowerError("round with decimals != 0 is not supported yet");
                  }
                  unary_rule("round")(ctx);
                },
                "round (half to even)", /*free_sizes=*/true});

  registry.add({{"torch.nn.functional.leaky_relu", "torch.nn.functional.leaky_relu_",
                 "aten.leaky_relu.default", "aten.leaky_relu_.default"},
                [](LowerContext& ctx) {
                  Attrs attrs;
                  const Attrs& a = ctx.attrs();
                  attrs.set("alpha",
                            a.is_none("negative_slope") ? 0.01 : a.get_float("negative_slope"));
                  ctx.emit_output("leaky_relu", {ctx.in(self_arg(ctx))}, std::move(attrs));
                },
                "leaky_relu",
                /*free_sizes=*/true});
  registry.add({{"torch.nn.functional.elu", "torch.nn.functional.elu_", "aten.elu.default",
                 "aten.elu_.default"},
                [](LowerContext& ctx) {
                  const Attrs& a = ctx.attrs();
                  for (const char* name : {"scale", "input_scale"}) {
                    if (!a.is_none(name) && a.get_float(name) != 1.0) {
                      throw LowerError(std::string("elu with ") + name +
                                       " != 1 is not supported yet");
                    }
                  }
                  Attrs attrs;
                  attrs.set("alpha", a.is_none("alpha") ? 1.0 : a.get_float("alpha"));
                  ctx.emit_output("elu", {ctx.in(self_arg(ctx))}, std::move(attrs));
                },
                "elu",
                /*free_sizes=*/true});
}

}  // namespace ferry
