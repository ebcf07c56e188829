// Control flow: a while loop, or torch.cond, whose functions were traced on their own
// (python/ferry/trace/control_flow.py). The call becomes one `while` or `if` node that keeps
// them as bodies; the pipeline converts each once the layout of the node's values is known.
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

// The `op` node running the call's traced functions `roles` on `inputs` (none with a free
// size: their functions are traced at fixed sizes).
Node* add_control_flow(LowerContext& ctx, const std::string& op, const std::vector<Value*>& inputs,
                       const std::string& first, const std::string& second) {
  for (const Value* v : inputs) {
    if (has_free_dims(v->sym))
      throw LowerError("control flow over values with a free size is not supported yet");
  }
  const Node& n = ctx.node();
  Node* node = ctx.graph().add_node(op, inputs);
  node->scope = n.scope;
  node->origin = n.origin;
  node->bodies = {find_body(n, first), find_body(n, second)};
  return node;
}

// Loop values: the carried inputs, then the tensors the functions read from outside (each
// carried through unchanged). The first outputs are the carried results.
void lower_while_loop(LowerContext& ctx) {
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
  Node* loop = add_control_flow(ctx, "while", inputs, "cond", "body");
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value* out = ctx.graph().add_value(inputs[i]->dtype, inputs[i]->shape);
    ctx.graph().add_output_to(loop, out);
    if (i < carried.size()) ctx.set_output(i, out);
  }
}

// torch.cond whose branches were traced as functions (the bridge names the call
// "torch.cond (branches)"): an `if` node on the predicate, then the operands and the tensors
// the branches read from outside; each branch returns every output.
void lower_cond(LowerContext& ctx) {
  std::vector<Value*> inputs = {ctx.in("pred")};
  for (const char* arg : {"operands", "captured"}) {
    for (Value* v : ctx.ins(arg)) inputs.push_back(v);
  }
  if (inputs[0]->dtype != DType::kBool || num_elements(inputs[0]->shape) != 1)
    throw LowerError("internal: the predicate must be one bool");
  Node* branch = add_control_flow(ctx, "if", inputs, "then", "else");
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    const Value& result = ctx.torch_output(i);
    Value* out = ctx.graph().add_value(result.dtype, result.shape);
    ctx.graph().add_output_to(branch, out);
    ctx.set_output(i, out);
  }
}

}  // namespace

void register_control_flow_rules(Registry& registry) {
  registry.add({{"torch.cond (branches)"}, lower_cond, "if (each branch as a subgraph)"});
  registry.add({{"torch._higher_order_ops.while_loop"},
                lower_while_loop,
                "while (condition and body as subgraphs)"});
}

}  // namespace ferry
