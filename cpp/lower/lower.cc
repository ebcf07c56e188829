#include "lower/lower.h"

#include <unordered_map>

namespace ferry {

LowerResult lower(const Graph& torch_graph, const Registry& registry) {
  LowerResult result;
  auto out = std::make_unique<Graph>();
  std::unordered_map<const Value*, Value*> mapping;

  for (size_t i = 0; i < torch_graph.inputs.size(); ++i) {
    const Value* in = torch_graph.inputs[i];
    Value* v = out->add_value(in->dtype, in->shape, in->name);
    v->origin = in->origin;
    mapping[in] = v;
    out->inputs.push_back(v);
  }
  out->input_names = torch_graph.input_names;

  auto map_constant = [&](const Value* c) {
    if (mapping.count(c)) return;
    Value* v = out->add_constant(c->constant, c->name);
    v->origin = c->origin;
    mapping[c] = v;
  };

  for (const Node* node : torch_graph.nodes()) {
    bool ready = true;
    for (const Value* in : node->inputs) {
      if (!in) continue;
      if (in->is_constant()) map_constant(in);
      if (!mapping.count(in)) ready = false;
    }
    if (!ready) continue;  // an upstream call was refused and is reported already
    const Rule* rule = registry.find(node->op);
    if (!rule) {
      result.errors.push_back({node->origin, "no rule for '" + node->op + "'"});
      continue;
    }
    try {
      LowerContext ctx(*out, *node, mapping);
      ctx.set_source(&torch_graph);
      rule->lower(ctx);
      for (const Value* o : node->outputs) {
        if (!mapping.count(o)) throw LowerError("internal: the rule did not produce every output");
      }
    } catch (const std::exception& e) {
      result.errors.push_back({node->origin, node->op + ": " + e.what()});
    }
  }

  for (const Value* o : torch_graph.outputs) {
    if (o->is_constant()) map_constant(o);
    auto it = mapping.find(o);
    if (it != mapping.end()) out->outputs.push_back(it->second);
  }
  out->output_names = torch_graph.output_names;
  result.graph = std::move(out);
  return result;
}

}  // namespace ferry
