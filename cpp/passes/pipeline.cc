#include "passes/pipeline.h"

#include <chrono>

#include "ir/dump.h"
#include "ir/verify.h"
#include "lower/lower.h"

namespace ferry {

namespace {

OrderRequest order_of(const Value* v) {
  return canonical(v->layout, v->rank()) == Layout::kChannelsLast ? OrderRequest::kTensorFlow
                                                                  : OrderRequest::kPyTorch;
}

// Converts the functions control-flow nodes run, once the graph around them is final: each
// body's inputs (and a loop body's outputs) come in the physical order of the node's values,
// so no transpose is needed at the boundary. A body's problems are said of the node.
void convert_bodies(Graph& graph, const Registry& registry,
                    const std::function<bool(const std::string&)>& has_rule,
                    const ConvertOptions& options, ConvertResult& result) {
  for (Node* node : graph.nodes()) {
    for (Body& body : node->bodies) {
      ConvertOptions inner = options;
      inner.layout.inputs.clear();
      inner.layout.outputs.clear();
      for (const Value* in : body_inputs(*node)) inner.layout.inputs.push_back(order_of(in));
      if (body.role == "body") inner.layout.outputs = inner.layout.inputs;  // fed back in
      if (body.role == "then" || body.role == "else")
        for (const Value* out : node->outputs) inner.layout.outputs.push_back(order_of(out));
      ConvertResult r = convert(*body.trace, registry, has_rule, inner);
      const std::string where = body.role == "cond"   ? "the loop's condition"
                                : body.role == "body" ? "the loop's body"
                                                      : "the " + body.role + " branch";
      for (const auto& p : r.imported.unsupported) {
        const auto& tn = body.trace->nodes.at(p.node);
        result.errors.push_back(
            {node->origin,
             where + ": " + p.message + (tn.scope.empty() ? "" : " [" + tn.scope + "]")});
      }
      // Errors downstream of a call with no converter only echo it.
      if (r.imported.unsupported.empty())
        for (const auto& p : r.errors)
          result.errors.push_back({node->origin, where + ": " + p.message});
      for (auto& [stage, text] : r.dumps)
        result.dumps.emplace_back(where + ", " + stage, std::move(text));
      if (r.graph) body.graph = std::move(r.graph);
    }
  }
}

}  // namespace

// The cleanup group runs to a fixed point: each pass can expose work for the others.
void cleanup(Graph& graph) {
  while (remove_noops(graph) | fold_transposes(graph) | fold_reshapes(graph) |
         fold_channel_permutations(graph) | eliminate_dead_code(graph)) {
  }
}

ConvertResult convert(const Trace& trace, const Registry& registry,
                      const std::function<bool(const std::string&)>& has_rule,
                      const ConvertOptions& options) {
  ConvertResult result;
  auto clock = std::chrono::steady_clock::now();
  auto stage = [&](const std::string& name, const Graph& graph) {
    auto now = std::chrono::steady_clock::now();
    result.seconds.emplace_back(name, std::chrono::duration<double>(now - clock).count());
    clock = now;
    verify(graph, name);
    if (options.keep_dumps) result.dumps.emplace_back(name, dump(graph));
  };

  result.imported = import_trace(trace, has_rule);
  result.errors = result.imported.errors;
  if (!result.imported.unsupported.empty() || !result.errors.empty()) return result;
  stage("import", *result.imported.graph);

  LowerResult lowered = lower(*result.imported.graph, registry);
  result.errors.insert(result.errors.end(), lowered.errors.begin(), lowered.errors.end());
  if (!result.errors.empty()) return result;
  std::unique_ptr<Graph> graph = std::move(lowered.graph);
  stage("lower", *graph);

  LayoutPlan plan = assign_layouts_optimal(*graph, options.layout, &result.solve);
  materialize_layouts(*graph, plan);
  stage("layout", *graph);
  cleanup(*graph);
  stage("cleanup", *graph);
  convert_bodies(*graph, registry, has_rule, options, result);
  if (!result.errors.empty()) return result;
  result.transposes = transpose_stats(*graph);
  result.transposes_node_by_node = {result.solve.node_by_node_count,
                                    result.solve.node_by_node_cost};
  result.graph = std::move(graph);
  return result;
}

}  // namespace ferry
