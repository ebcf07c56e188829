// Control flow: a while loop whose condition and body were traced as functions of their own
// (python/ferry/trace/control_flow.py). The call becomes one `while` node that keeps them as
// bodies; the pipeline converts each once the layout of the loop's values is known.
#include <string>
#include <vector>

#include "lower/rules.h"

namespace ferry {
namespace {

Body find_body(const Node& node, const std::string& role) {
  for (const Body& b : node.bodies)
    if (b.role == role) return b;
  throw LowerError("internal: the traced '" + role + "' function is missing");
}

// Loop values: the carried inputs, then the tensors the functions read from outside (each
// carried through unchanged). The first outputs are the carried results.
void lower_while_loop(LowerContext& ctx) {
  const Node& n = ctx.node();
  const std::vector<Value*> carried = ctx.ins("carried_inputs");
  const std::vector<Value*> captured = ctx.ins("captured");
  if (ctx.num_outputs() != carried.size())
    throw LowerError("internal: " + std::to_string(ctx.num_outputs()) + " results for " +
                     std::to_string(carried.size()) + " carried values");
  std::vector<Value*> inputs = carried;
  inputs.insert(inputs.end(), captured.begin(), captured.end());
  for (size_t i = 0; i < carried.size(); ++i) {
    const Value& result = ctx.torch_output(i);
    if (result.shape != carried[i]->shape || result.dtype != carried[i]->dtype)
      throw LowerError("carried value " + std::to_string(i) +
                       " changes its shape or dtype in the body; a loop keeps both");
  }
  for (const Value* v : inputs) {
    if (has_free_dims(v->sym))
      throw LowerError("a loop over values with a free size is not supported yet");
  }
  Node* loop = ctx.graph().add_node("while", inputs);
  loop->scope = n.scope;
  loop->origin = n.origin;
  loop->bodies = {find_body(n, "cond"), find_body(n, "body")};
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value* out = ctx.graph().add_value(inputs[i]->dtype, inputs[i]->shape);
    ctx.graph().add_output_to(loop, out);
    if (i < carried.size()) ctx.set_output(i, out);
  }
}

}  // namespace

void register_control_flow_rules(Registry& registry) {
  registry.add({{"torch._higher_order_ops.while_loop"},
                lower_while_loop,
                "while (condition and body as subgraphs)"});
}

}  // namespace ferry
