#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "import/trace.h"
#include "ir/graph.h"

namespace ferry {

// Why a trace node did not become part of the graph.
struct ImportProblem {
  int64_t node = -1;  // trace node id
  std::string message;
};

struct ImportResult {
  std::unique_ptr<Graph> graph;            // PyTorch-level: one node per selected call
  std::vector<int64_t> converted;          // trace node ids chosen for conversion, in call order
  std::vector<int64_t> unused;             // chosen, but nothing they compute reaches an output
  std::vector<ImportProblem> unsupported;  // needed calls with no rule at any level
  std::vector<ImportProblem> errors;       // other reasons the graph cannot be built
};

// Picks, for every part of the call tree, the highest level that can convert it (a user
// converter, then a rule for the module, the function, or finally the aten ops beneath) and
// builds the PyTorch-level graph of those calls. Calls whose results never reach an output
// are reported as unused and left out; a needed call with no rule is reported, never guessed.
ImportResult import_trace(const Trace& trace,
                          const std::function<bool(const std::string& op)>& has_rule);

}  // namespace ferry
