#pragma once

#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace ferry {

// What the caller asks for at the graph boundary, per input / output tensor.
enum class OrderRequest : uint8_t { kPyTorch, kTensorFlow, kAsIs };

struct LayoutOptions {
  std::vector<OrderRequest> inputs;   // one per graph input (missing entries: PyTorch)
  std::vector<OrderRequest> outputs;  // one per graph output (missing entries: as is)
};

// The decision: the layout each node wants for each of its inputs. Output layouts are stored
// on the values themselves (Value::layout).
struct LayoutPlan {
  std::unordered_map<const Node*, std::vector<Layout>> wanted_inputs;
  std::vector<Layout> wanted_outputs;
};

// Channels-last and PyTorch order coincide below rank 3; this picks one spelling for both.
Layout canonical(Layout layout, size_t rank);

// Decides node by node, in order, as nobuco does: channel-aware ops take
// channels-last, order-agnostic ops keep what they get (majority vote among operands). The
// global minimum-cut solver replaces this decision; materialization stays the same.
LayoutPlan assign_layouts_greedy(Graph& graph, const LayoutOptions& options);

// Turns a plan into a graph that needs no further thought about order: inserts one transpose
// per (tensor, layout) however many consumers want it, permutes constants at conversion time,
// and rewrites axis attributes, permutations and reshape targets into physical terms.
void materialize_layouts(Graph& graph, const LayoutPlan& plan);

}  // namespace ferry
