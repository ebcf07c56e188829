#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "layout/assign.h"

namespace ferry {

// The layout problem as an energy over binary variables: one per node whose order is free
// (label 0 = PyTorch order, 1 = channels-last). Values of rank < 3 look the same in both
// orders and carry no variable.
//
// Costs are bytes transposed per inference:
//  - a value pays its size once if any consumer (or the graph output request) wants it in
//    the other order: one transpose serves every consumer that disagrees;
//  - a transpose in the model pays its size unless the orders around it make it a no-op;
//  - constants never pay: they are permuted at conversion time.

// A layout that is either fixed or the label of a variable.
struct Literal {
  int var = -1;  // >= 0: the variable's label
  Layout fixed = Layout::kPyTorch;

  static Literal of(Layout layout) { return {-1, layout}; }
  static Literal variable(int v) { return {v, Layout::kPyTorch}; }
  bool is_var() const { return var >= 0; }
  int label(const std::vector<uint8_t>& labels) const {
    return is_var() ? labels[var] : (fixed == Layout::kChannelsLast ? 1 : 0);
  }
};

// bytes * [some want differs from the value's layout]
struct DisagreeTerm {
  Literal value;
  std::vector<Literal> wants;
  int64_t bytes = 0;
};

// table[a][b] for (a, b) = labels of two literals.
struct PairTerm {
  Literal a, b;
  std::array<std::array<int64_t, 2>, 2> table{};
};

struct LayoutEnergy {
  int num_vars = 0;
  std::vector<std::array<int64_t, 2>> unary;  // per variable: cost of label 0 / 1
  std::vector<DisagreeTerm> disagree;
  std::vector<PairTerm> pairs;

  int64_t evaluate(const std::vector<uint8_t>& labels) const;
  // How many transposes a labelling implies (terms that pay).
  int64_t count_transposes(const std::vector<uint8_t>& labels) const;
};

// How each node's order choice shapes its inputs and outputs.
struct NodeChoice {
  Literal mode;                      // the order the node works in
  std::vector<Literal> input_wants;  // per input; var kNoWant: taken as it is
  std::vector<bool> data;            // per input: its order follows the node (constants too)
  std::vector<Literal> outputs;      // per output: its layout
};

constexpr int kNoWant = -2;

struct LayoutModel {
  LayoutEnergy energy;
  std::vector<Node*> nodes;                 // in graph order
  std::vector<NodeChoice> choices;          // per node
  std::vector<Literal> graph_output_wants;  // var -2: as is
};

// Builds the energy from the graph, the capability table and the boundary requests.
LayoutModel build_layout_model(Graph& graph, const LayoutOptions& options);

// The labelling that stands for a plan made some other way (the node-by-node baseline).
std::vector<uint8_t> labels_from_plan(const LayoutModel& model, const LayoutPlan& plan);

// The plan a labelling stands for (sets Value::layout on node outputs and graph inputs).
LayoutPlan plan_from_labels(Graph& graph, const LayoutModel& model,
                            const std::vector<uint8_t>& labels);

}  // namespace ferry
