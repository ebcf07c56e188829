#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layout/assign.h"
#include "layout/energy.h"

namespace ferry {

struct SolveOptions {
  // Frustrated problems (see solver.cc) with at most this many variables are solved by
  // enumeration, so the answer stays exact.
  int exhaustive_limit = 20;
  bool allow_exhaustive = true;
};

struct SolveStats {
  int variables = 0;
  int64_t cost = 0;              // bytes transposed per inference, as solved
  int64_t all_pytorch_cost = 0;  // the same graph kept in PyTorch order throughout
  bool exact = true;
  std::string method;  // "min-cut", "enumeration", "min-cut (approximate)"
  int frustrated_terms = 0;
  // The same graph with order decided node by node, as nobuco does.
  int64_t node_by_node_cost = 0;
  int64_t node_by_node_count = 0;
  int64_t count = 0;
};

// The labelling of minimum energy. Exact by one s-t minimum cut when the energy is
// submodular after relabelling (see solver.cc); otherwise by enumeration when small.
std::vector<uint8_t> solve_layout_energy(const LayoutEnergy& energy, const SolveOptions& options,
                                         SolveStats* stats);

// Decides the order of every tensor by one global minimum cut (replaces the greedy choice).
LayoutPlan assign_layouts_optimal(Graph& graph, const LayoutOptions& options,
                                  SolveStats* stats = nullptr);

}  // namespace ferry
