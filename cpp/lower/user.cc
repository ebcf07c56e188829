// User converters and layout hints. A user converter is opaque to the core: it becomes one
// `user` node whose channel-order behaviour is the strategy the user declared; the Keras back
// end calls the user's TF callable for it.
#include "lower/rules.h"

namespace ferry {
namespace {

void lower_user(LowerContext& ctx) {
  const Node& node = ctx.node();
  std::vector<Value*> inputs;
  for (const Value* in : node.inputs) inputs.push_back(ctx.in_opt_value(in));
  Attrs attrs;
  attrs.set("converter", ctx.attrs().get_int("converter"));
  attrs.set("strategy", ctx.attrs().get_string("strategy"));
  attrs.set("target", ctx.attrs().get_string("target"));
  Node* n = ctx.graph().add_node("user", std::move(inputs), std::move(attrs));
  n->scope = node.scope;
  n->origin = node.origin;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const Value& t = ctx.torch_output(i);
    Value* v = ctx.graph().add_value(t.dtype, t.shape);
    ctx.graph().add_output_to(n, v);
    ctx.set_output(i, v);
  }
}

// An order hint: nobuco's `force_*_order(inputs)`, or a user converter that hands back its
// argument under a FORCE_* strategy. Either way the one tensor argument, whatever its name.
void lower_hint(LowerContext& ctx, const std::string& order) {
  const Node& node = ctx.node();
  if (node.inputs.size() != 1) {
    throw LowerError("an order hint takes exactly one tensor, got " +
                     std::to_string(node.inputs.size()));
  }
  Attrs attrs;
  if (!order.empty()) attrs.set("force", order);
  ctx.emit_output("identity", {ctx.in_opt_value(node.inputs[0])}, attrs);
}

}  // namespace

void register_user_rules(Registry& registry) {
  registry.add({{"ferry.user"}, lower_user, "user (the converter's TF callable)"});
  registry.add({{"ferry.hints.force_tensorflow_order"},
                [](LowerContext& ctx) { lower_hint(ctx, "tensorflow"); },
                "identity, channels-last"});
  registry.add({{"ferry.hints.force_pytorch_order"},
                [](LowerContext& ctx) { lower_hint(ctx, "pytorch"); },
                "identity, PyTorch order"});
  registry.add({{"ferry.identity"},
                [](LowerContext& ctx) { lower_hint(ctx, ""); },
                "identity (a user converter that returns its argument)"});
}

}  // namespace ferry
