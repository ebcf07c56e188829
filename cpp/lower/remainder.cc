// remainder and fmod, float and integer. PyTorch's remainder takes the divisor's sign (Python's
// %), which is TFLite's FLOOR_MOD and TF's floormod exactly: both compute fmod and add the
// divisor when the signs differ, as PyTorch does. fmod takes the dividend's sign; it is the
// floor_mod of the magnitudes with the dividend's sign put back, exact as well (fmod of two
// non-negative numbers needs no adjustment).
#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// The operands as (dividend, divisor); Tensor.__rmod__ (`2 % x`) swaps them.
std::pair<Value*, Value*> operands(LowerContext& ctx, bool reflected) {
  const DType dtype = ctx.torch_output().dtype;
  if (dtype == DType::kBool) throw LowerError("remainder of bool tensors is not defined");
  Value* a = operand(ctx, self_arg(ctx), dtype);
  Value* b = operand(ctx, "other", dtype);
  return reflected ? std::pair{b, a} : std::pair{a, b};
}

// |v| as where(v < 0, -v, v): NEG has int64 kernels where ABS does not.
Value* magnitude(LowerContext& ctx, Value* v, Value* negative) {
  return emit_select(ctx, negative, emit_unary_op(ctx, "neg", v), v);
}

void lower_remainder(LowerContext& ctx, bool reflected) {
  auto [a, b] = operands(ctx, reflected);
  ctx.set_output(0, emit_binary_op(ctx, "floor_mod", a, b));
}

void lower_fmod(LowerContext& ctx) {
  auto [a, b] = operands(ctx, false);
  Value* zero = typed_scalar(ctx, 0, a->dtype);
  Value* a_negative = emit_binary_op(ctx, "less", a, zero);
  Value* b_negative = emit_binary_op(ctx, "less", b, zero);
  Value* r = emit_binary_op(ctx, "floor_mod", magnitude(ctx, a, a_negative),
                            magnitude(ctx, b, b_negative));
  ctx.set_output(0, magnitude(ctx, r, a_negative));
}

std::vector<std::string> names(const std::string& name) {
  std::vector<std::string> out = {"torch." + name, "torch.Tensor." + name,
                                  "torch.Tensor." + name + "_"};
  for (const char* overload : {"Tensor", "Scalar", "Scalar_Tensor"}) {
    out.push_back("aten." + name + "." + overload);
    out.push_back("aten." + name + "_." + overload);
  }
  return out;
}

}  // namespace

void register_remainder_rules(Registry& registry) {
  auto remainder = names("remainder");
  remainder.insert(remainder.end(), {"torch.Tensor.__mod__", "torch.Tensor.__imod__"});
  registry.add({remainder, [](LowerContext& ctx) { lower_remainder(ctx, false); },
                "floor_mod (the divisor's sign)"});
  registry.add({{"torch.Tensor.__rmod__"},
                [](LowerContext& ctx) { lower_remainder(ctx, true); },
                "floor_mod (the divisor's sign)"});
  registry.add({names("fmod"), lower_fmod,
                "floor_mod of the magnitudes, the dividend's sign restored (where)"});
}

}  // namespace ferry
