#include <algorithm>
#include <map>
#include <stdexcept>

#include "layout/assign.h"
#include "layout/op_layout.h"

namespace ferry {
namespace {

// transpose(x_physical_in, q) gives the physical tensor in `to`: q[j] = inv(p_from)[p_to[j]].
std::vector<int64_t> transpose_between(Layout from, Layout to, size_t rank) {
  std::vector<int64_t> inv_from = invert(layout_perm(from, rank));
  std::vector<int64_t> p_to = layout_perm(to, rank);
  std::vector<int64_t> q(rank);
  for (size_t j = 0; j < rank; ++j) q[j] = inv_from[p_to[j]];
  return q;
}

class Materializer {
 public:
  explicit Materializer(Graph& graph) : graph_(graph) {}

  // `value` as a consumer wants it; `rank` is the rank the consumer broadcasts to.
  Value* convert(Value* value, Layout want, size_t rank, Node* before) {
    if (!value || value->layout == Layout::kFixed || want == Layout::kFixed) return value;
    if (value->is_constant()) return constant_in(value, canonical(want, rank), rank);
    want = canonical(want, value->rank());
    if (canonical(value->layout, value->rank()) == want) return value;
    auto key = std::make_pair(value, want);
    if (auto it = converted_.find(key); it != converted_.end()) return it->second;
    Attrs attrs;
    attrs.set("perm", transpose_between(value->layout, want, value->rank()));
    Node* t = graph_.add_node("transpose", {value}, std::move(attrs), before);
    t->scope = value->producer ? value->producer->scope : "";
    t->origin = value->producer ? value->producer->origin : -1;
    Value* out = graph_.add_value(value->dtype, value->shape,
                                  value->name + "_" + std::string(layout_name(want)));
    out->layout = want;
    out->sym = value->sym;
    // The same PyTorch value in another order: validation finds a graph output's reference
    // through its origin (and undoes its own permutation), so the copy must carry it.
    out->origin = value->origin;
    graph_.add_output_to(t, out);
    converted_[key] = out;
    return out;
  }

 private:
  // Constants are permuted here, at conversion time, so they cost nothing at inference.
  // A lower-rank operand is first given the leading unit dims broadcasting would add.
  Value* constant_in(Value* value, Layout want, size_t rank) {
    if (want != Layout::kChannelsLast || value->rank() == 0) return value;
    auto key = std::make_pair(value, want);
    if (auto it = converted_.find(key); it != converted_.end()) return it->second;
    std::shared_ptr<const TensorData> data = value->constant;
    Shape shape = value->shape;
    if (shape.size() < rank) {
      shape.insert(shape.begin(), rank - shape.size(), 1);
      data = data->reshaped(shape);
    }
    auto permuted = data->permuted(layout_perm(Layout::kChannelsLast, rank));
    // The new constant holds physical bytes; its logical shape is the broadcast-aligned one.
    Value* out = graph_.add_constant(permuted, value->name + "_channels_last");
    out->shape = shape;
    out->layout = Layout::kChannelsLast;
    out->origin = value->origin;
    converted_[key] = out;
    return out;
  }

  Graph& graph_;
  std::map<std::pair<Value*, Layout>, Value*> converted_;
};

// layer_norm's gamma and beta are shaped like the normalised (trailing) dims in PyTorch order.
// When the input's layout reorders those dims physically (LayerNorm((C, H, W)) on a
// channels-last tensor normalises physical H, W, C), they are rewritten into the physical
// order of the axes, as kFixed values: constants permuted here, computed ones by a transpose.
// Call after remap_axes (the "axes" attribute is physical and ascending).
void fit_layer_norm_params(Graph& graph, Materializer& m, Node& node) {
  const Value* x = node.inputs[0];
  const std::vector<int64_t> p = layout_perm(x->layout, x->rank());
  const std::vector<int64_t> axes = node.attrs.get_ints("axes");
  const int64_t first = static_cast<int64_t>(x->rank() - axes.size());
  std::vector<int64_t> q;  // param dim j of the physical order is logical param dim q[j]
  for (int64_t a : axes) q.push_back(p[a] - first);
  if (is_identity(q)) return;
  for (size_t i = 1; i < node.inputs.size() && i < 3; ++i) {
    Value* v = node.inputs[i];
    if (!v || v->layout == Layout::kFixed) continue;
    if (v->rank() != q.size()) throw std::invalid_argument("layer_norm: param rank != axes");
    Shape shape(q.size());
    for (size_t j = 0; j < q.size(); ++j) shape[j] = v->shape[q[j]];
    Value* fitted;
    if (v->is_constant()) {
      fitted = graph.add_constant(v->constant->permuted(q), v->name + "_physical");
      fitted->origin = v->origin;
    } else {
      Value* logical = m.convert(v, Layout::kPyTorch, v->rank(), &node);
      Attrs attrs;
      attrs.set("perm", q);
      Node* t = graph.add_node("transpose", {logical}, std::move(attrs), &node);
      t->scope = node.scope;
      t->origin = node.origin;
      fitted = graph.add_value(v->dtype, shape, v->name + "_physical");
      graph.add_output_to(t, fitted);
    }
    fitted->shape = shape;
    if (!v->sym.empty()) {
      SymDims sym(q.size());
      for (size_t j = 0; j < q.size(); ++j) sym[j] = v->sym[q[j]];
      fitted->sym = std::move(sym);
    }
    fitted->layout = Layout::kFixed;
    graph.set_input(&node, i, fitted);
  }
}

void remap_axes(Node& node, const OpLayout& info, Layout in_layout, size_t rank) {
  std::vector<int64_t> p = layout_perm(in_layout, rank);
  if (is_identity(p)) return;
  std::vector<int64_t> inv = invert(p);
  for (const auto& name : info.axes.single) {
    if (node.attrs.has(name)) node.attrs.set(name, inv[node.attrs.get_int(name)]);
  }
  for (const auto& name : info.axes.lists) {
    if (!node.attrs.has(name)) continue;
    std::vector<int64_t> axes = node.attrs.get_ints(name);
    for (auto& a : axes) a = inv[a];
    std::sort(axes.begin(), axes.end());
    node.attrs.set(name, axes);
  }
  for (const auto& name : info.axes.per_dim) {
    if (!node.attrs.has(name)) continue;
    std::vector<int64_t> old = node.attrs.get_ints(name), now(rank);
    for (size_t k = 0; k < rank; ++k) now[k] = old[p[k]];
    node.attrs.set(name, now);
  }
  for (const auto& name : info.axes.pairs) {
    if (!node.attrs.has(name)) continue;
    std::vector<int64_t> old = node.attrs.get_ints(name), now(2 * rank);
    for (size_t k = 0; k < rank; ++k) {
      now[2 * k] = old[2 * p[k]];
      now[2 * k + 1] = old[2 * p[k] + 1];
    }
    node.attrs.set(name, now);
  }
}

}  // namespace

void materialize_layouts(Graph& graph, const LayoutPlan& plan) {
  Materializer m(graph);
  for (Node* node : graph.nodes()) {
    auto it = plan.wanted_inputs.find(node);
    if (it == plan.wanted_inputs.end()) continue;  // inserted by this stage
    const OpLayout info = op_layout(*node);
    const size_t out_rank = node->outputs.empty() ? 0 : node->outputs[0]->rank();
    // Operands broadcast to the output's rank; loop values keep their own.
    const bool broadcasts = info.cls != LayoutClass::kCarried;
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      Value* in = node->inputs[i];
      const size_t in_rank = in ? in->rank() : 0;
      Value* now =
          m.convert(in, it->second[i], broadcasts ? std::max(out_rank, in_rank) : in_rank, node);
      if (now != in) graph.set_input(node, i, now);
    }
    Value* in0 = node->inputs.empty() ? nullptr : node->inputs[0];
    switch (info.cls) {
      case LayoutClass::kAxes:
        remap_axes(*node, info, in0->layout, in0->rank());
        if (node->op == "layer_norm") fit_layer_norm_params(graph, m, *node);
        break;
      case LayoutClass::kTranspose: {
        std::vector<int64_t> perm = node->attrs.get_ints("perm");
        std::vector<int64_t> inv_in = invert(layout_perm(in0->layout, in0->rank()));
        std::vector<int64_t> p_out = layout_perm(node->outputs[0]->layout, out_rank);
        std::vector<int64_t> physical(out_rank);
        for (size_t j = 0; j < out_rank; ++j) physical[j] = inv_in[perm[p_out[j]]];
        node->attrs.set("perm", physical);
        break;
      }
      case LayoutClass::kReshape:
        node->attrs.set("shape", node->outputs[0]->reshape_target());
        break;
      default:
        break;
    }
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    Value* out = graph.outputs[i];
    Value* now = m.convert(out, plan.wanted_outputs.at(i), out->rank(), nullptr);
    graph.outputs[i] = now;
  }
}

}  // namespace ferry
