#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "import/import.h"
#include "layout/assign.h"
#include "layout/solver.h"
#include "lower/registry.h"
#include "passes/passes.h"

namespace ferry {

struct ConvertOptions {
  LayoutOptions layout;
  bool keep_dumps = false;  // text IR after every stage, for debugging
};

struct ConvertResult {
  ImportResult imported;              // selection, unsupported and unused calls
  std::vector<ImportProblem> errors;  // rule refusals and import errors
  std::unique_ptr<Graph> graph;       // the final TF-level graph (null when errors exist)
  std::vector<std::pair<std::string, std::string>> dumps;  // (stage, text IR)
  // Transposes when order is decided node by node (nobuco's way), and as solved.
  TransposeStats transposes_node_by_node;
  TransposeStats transposes;
  SolveStats solve;
  std::vector<std::pair<std::string, double>> seconds;  // wall time per stage
};

// no-op removal, transpose and reshape folding, channel permutations folded into weights and
// dead-code elimination, to a fixed point
void cleanup(Graph& graph);

// trace -> PyTorch-level IR -> TF-level IR -> layout -> cleanup, with the verifier between
// stages. Stops before layout when any call could not be converted.
ConvertResult convert(const Trace& trace, const Registry& registry,
                      const std::function<bool(const std::string&)>& has_rule,
                      const ConvertOptions& options);

}  // namespace ferry
