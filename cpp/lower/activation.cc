// Elementwise activations. Each lowers to one TF-level op that reproduces PyTorch's formula
// exactly (hard_sigmoid and hard_swish are PyTorch's definitions, not Keras').
#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {

void register_activation_rules(Registry& registry) {
  add_unary(registry, "relu", "relu");
  add_unary(registry, "relu6", "relu6");
  add_unary(registry, "sigmoid", "sigmoid");
  add_unary(registry, "tanh", "tanh");
  add_unary(registry, "silu", "silu");
  add_unary(registry, "hardsigmoid", "hard_sigmoid");
  add_unary(registry, "hardswish", "hard_swish");

  Rule gelu;
  gelu.ops = function_aliases("gelu", true, true, false);
  gelu.mapping = "gelu";
  gelu.free_sizes = true;
  gelu.lower = [](LowerContext& ctx) {
    Attrs attrs;
    const Attrs& a = ctx.attrs();
    attrs.set("approximate", a.has("approximate") ? a.get_string("approximate") : "none");
    ctx.emit_output("gelu", {ctx.in("input")}, attrs);
  };
  registry.add(std::move(gelu));
}

}  // namespace ferry
