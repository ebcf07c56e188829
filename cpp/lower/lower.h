#pragma once

#include <memory>
#include <vector>

#include "import/import.h"
#include "ir/graph.h"
#include "lower/registry.h"

namespace ferry {

struct LowerResult {
  std::unique_ptr<Graph> graph;       // TF-level, still in PyTorch order
  std::vector<ImportProblem> errors;  // one per call a rule refused, with the rule's reason
};

// Runs each node's rule. A refused node is reported with its trace id; nodes that depend on
// it are skipped quietly so the user sees the cause, not its echoes.
LowerResult lower(const Graph& torch_graph, const Registry& registry);

}  // namespace ferry
