#include "lower/lower.h"

#include <string>
#include <unordered_map>

namespace ferry {

namespace {

// How a call uses a free size, for the refusal of a rule that cannot; "" when it does not.
std::string free_size_use(const Graph& graph, const Node& node) {
  if (!graph.symbols) return "";
  auto describe = [&](const Value& v, const std::string& what) -> std::string {
    for (size_t d = 0; d < v.sym.size(); ++d) {
      if (v.sym[d] >= 0)
        return "dim " + std::to_string(d) + " of " + what + " is " +
               graph.symbols->render(v.sym[d]);
    }
    return "";
  };
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.inputs[i]) continue;
    std::string arg = i < node.input_args.size() ? node.input_args[i] : std::to_string(i);
    if (auto s = describe(*node.inputs[i], "'" + arg + "'"); !s.empty()) return s;
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (auto s = describe(*node.outputs[i], "output " + std::to_string(i)); !s.empty()) return s;
  }
  if (!node.sym_args.empty()) return "argument '" + node.sym_args.front() + "' holds a free size";
  return "";
}

}  // namespace

LowerResult lower(const Graph& torch_graph, const Registry& registry) {
  LowerResult result;
  auto out = std::make_unique<Graph>();
  std::unordered_map<const Value*, Value*> mapping;
  std::unordered_map<int32_t, Value*> sizes;  // run-time sizes, shared by every rule

  out->symbols = torch_graph.symbols;
  for (size_t i = 0; i < torch_graph.inputs.size(); ++i) {
    const Value* in = torch_graph.inputs[i];
    Value* v = out->add_value(in->dtype, in->shape, in->name);
    v->sym = in->sym;
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
    if (!rule->free_sizes) {
      if (std::string free = free_size_use(torch_graph, *node); !free.empty()) {
        result.errors.push_back({node->origin, node->op + ": cannot take a free size yet (" + free +
                                                   "); make that dim static"});
        continue;
      }
    }
    try {
      LowerContext ctx(*out, *node, mapping);
      ctx.set_source(&torch_graph);
      ctx.set_size_values(&sizes);
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
