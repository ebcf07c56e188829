#include <algorithm>

#include "layout/op_layout.h"
#include "passes/passes.h"

namespace ferry {
namespace {

bool is_noop(const Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1 || !node.inputs[0]) return false;
  const Value* in = node.inputs[0];
  const Value* out = node.outputs[0];
  if (in->dtype != out->dtype) return false;
  if (node.op == "identity")
    return in->physical_shape() == out->physical_shape() && in->layout == out->layout;
  if (node.op == "transpose") return is_identity(node.attrs.get_ints("perm"));
  if (node.op == "reshape") return same_sizes(*in, *out);
  return false;
}

}  // namespace

bool remove_noops(Graph& graph) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (!is_noop(*node)) continue;
    Value* in = node->inputs[0];
    Value* out = node->outputs[0];
    // A graph output keeps its name and origin through the replacement. The origin is read
    // in the value's logical shape and order, so those come along with it: a transpose that
    // moves nothing relates two labellings of the same physical tensor.
    if (in->origin < 0 && out->origin >= 0) {
      in->origin = out->origin;
      in->shape = out->shape;
      in->layout = out->layout;
    }
    graph.replace_all_uses(out, in);
    graph.remove_node(node);
    changed = true;
  }
  return changed;
}

bool fold_transposes(Graph& graph) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->op != "transpose") continue;
    Value* in = node->inputs[0];
    Node* inner = in->producer;
    if (!inner || inner->op != "transpose" || in->users.size() != 1) continue;
    bool is_output = false;
    for (const Value* o : graph.outputs) is_output |= o == in;
    if (is_output) continue;
    // out[j] = in[q[j]] = x[p[q[j]]]
    std::vector<int64_t> p = inner->attrs.get_ints("perm");
    std::vector<int64_t> q = node->attrs.get_ints("perm");
    std::vector<int64_t> composed(q.size());
    for (size_t j = 0; j < q.size(); ++j) composed[j] = p[q[j]];
    graph.set_input(node, 0, inner->inputs[0]);
    node->attrs.set("perm", composed);
    graph.remove_node(inner);
    changed = true;
  }
  return changed;
}

bool eliminate_dead_code(Graph& graph) {
  bool changed = false;
  std::vector<Node*> nodes = graph.nodes();
  // Reverse order: removing a consumer can make its producers dead in the same sweep.
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* node = *it;
    bool used = false;
    for (const Value* out : node->outputs) {
      if (!out->users.empty()) used = true;
      for (const Value* g : graph.outputs) used |= g == out;
    }
    if (!used) {
      graph.remove_node(node);
      changed = true;
    }
  }
  return changed;
}

TransposeStats transpose_stats(const Graph& graph) {
  TransposeStats stats;
  for (const Node* node : graph.nodes()) {
    for (const Body& body : node->bodies) {
      if (!body.graph) continue;
      TransposeStats inner = transpose_stats(*body.graph);  // once per run of the body
      stats.count += inner.count;
      stats.bytes += inner.bytes;
    }
    if (node->op != "transpose") continue;
    ++stats.count;
    const Value* in = node->inputs[0];
    stats.bytes += num_elements(in->shape) * static_cast<int64_t>(dtype_size(in->dtype));
  }
  return stats;
}

}  // namespace ferry

namespace ferry {

bool fold_reshapes(Graph& graph) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->op == "transpose") {
      // transpose(x, p) -> reshape(x) when p only moves unit dims: no element changes place.
      const Value* in = node->inputs[0];
      Shape physical = in->physical_shape();
      std::vector<int64_t> order;
      for (int64_t axis : node->attrs.get_ints("perm")) {
        if (physical[axis] != 1) order.push_back(axis);
      }
      if (!std::is_sorted(order.begin(), order.end()) || is_identity(node->attrs.get_ints("perm")))
        continue;
      node->op = "reshape";
      node->attrs = Attrs();
      node->attrs.set("shape", node->outputs[0]->reshape_target());
      changed = true;
      continue;
    }
    if (node->op != "reshape") continue;
    // reshape(reshape(x)) -> reshape(x): only the final shape matters.
    Value* in = node->inputs[0];
    Node* inner = in->producer;
    if (!inner || inner->op != "reshape" || in->users.size() != 1) continue;
    bool is_output = false;
    for (const Value* o : graph.outputs) is_output |= o == in;
    if (is_output) continue;
    graph.set_input(node, 0, inner->inputs[0]);
    graph.remove_node(inner);
    changed = true;
  }
  return changed;
}

}  // namespace ferry
