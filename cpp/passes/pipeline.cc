#include "passes/pipeline.h"

#include <chrono>

#include "ir/dump.h"
#include "ir/verify.h"
#include "lower/lower.h"

namespace ferry {

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
  result.transposes = transpose_stats(*graph);
  result.transposes_node_by_node = {result.solve.node_by_node_count,
                                    result.solve.node_by_node_cost};
  result.graph = std::move(graph);
  return result;
}

}  // namespace ferry
