#include "layout/assign.h"

#include <algorithm>

#include "layout/op_layout.h"

namespace ferry {
namespace {

bool is_data_input(const OpLayout& info, size_t index) {
  return info.data_inputs.empty() || std::find(info.data_inputs.begin(), info.data_inputs.end(),
                                               index) != info.data_inputs.end();
}

// Sizes of the non-unit dims in physical order: a reshape that keeps this sequence only adds
// or removes unit dims and can run on the physical tensor directly.
std::vector<int64_t> non_unit_physical(const Shape& shape, Layout layout) {
  std::vector<int64_t> seq;
  for (int64_t logical : layout_perm(layout, shape.size())) {
    if (shape[logical] != 1) seq.push_back(logical);
  }
  // Express as ranks among non-unit dims so input and output sequences compare.
  std::vector<int64_t> sorted = seq;
  std::sort(sorted.begin(), sorted.end());
  for (auto& d : seq) d = std::lower_bound(sorted.begin(), sorted.end(), d) - sorted.begin();
  return seq;
}

bool same_non_unit_sizes(const Shape& a, const Shape& b) {
  std::vector<int64_t> x, y;
  for (int64_t d : a)
    if (d != 1) x.push_back(d);
  for (int64_t d : b)
    if (d != 1) y.push_back(d);
  return x == y;
}

Layout vote(const Node& node, const OpLayout& info, size_t rank) {
  int channels_last = 0, pytorch = 0;
  const Value* first = nullptr;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Value* in = node.inputs[i];
    if (!in || in->is_constant() || !is_data_input(info, i) || in->rank() != rank) continue;
    if (!first) first = in;
    (canonical(in->layout, rank) == Layout::kChannelsLast ? channels_last : pytorch)++;
  }
  if (channels_last != pytorch)
    return channels_last > pytorch ? Layout::kChannelsLast : Layout::kPyTorch;
  return first ? canonical(first->layout, rank) : Layout::kPyTorch;
}

}  // namespace

Layout canonical(Layout layout, size_t rank) {
  if (layout == Layout::kChannelsLast && rank < 3) return Layout::kPyTorch;
  return layout;
}

LayoutPlan assign_layouts_greedy(Graph& graph, const LayoutOptions& options) {
  LayoutPlan plan;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    Value* in = graph.inputs[i];
    bool tf = i < options.inputs.size() && options.inputs[i] == OrderRequest::kTensorFlow;
    in->layout = canonical(tf ? Layout::kChannelsLast : Layout::kPyTorch, in->rank());
  }
  for (Node* node : graph.nodes()) {
    const OpLayout info = op_layout(*node);
    std::vector<Layout> want(node->inputs.size(), Layout::kPyTorch);
    Layout out_layout = Layout::kPyTorch;
    const size_t out_rank = node->outputs.empty() ? 0 : node->outputs[0]->rank();
    auto want_data = [&](Layout layout) {
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        const Value* in = node->inputs[i];
        if (!in) continue;
        // A constant is broadcast-aligned to the output's rank before it is permuted
        // (materialize), so its layout is decided at that rank: a [W] or [C, 1] constant
        // next to a channels-last tensor must be permuted too, not kept in PyTorch order
        // because its own rank is below 3.
        const size_t rank = in->is_constant() ? std::max(in->rank(), out_rank) : in->rank();
        want[i] = is_data_input(info, i) ? canonical(layout, rank) : in->layout;
      }
    };
    switch (info.cls) {
      case LayoutClass::kChannelsLast:
        want_data(Layout::kChannelsLast);
        out_layout = Layout::kChannelsLast;
        break;
      case LayoutClass::kPyTorchOrder:
        want_data(Layout::kPyTorch);
        break;
      case LayoutClass::kCarried: {
        size_t rank = 0;
        for (const Value* in : node->inputs) rank = std::max(rank, in ? in->rank() : 0);
        out_layout = rank >= 3 ? vote(*node, info, rank) : Layout::kPyTorch;
        for (size_t i = 0; i < node->inputs.size(); ++i) {
          if (node->inputs[i]) want[i] = canonical(out_layout, node->inputs[i]->rank());
        }
        break;
      }
      case LayoutClass::kPassThrough:
        for (size_t i = 0; i < node->inputs.size(); ++i) {
          if (node->inputs[i]) want[i] = node->inputs[i]->layout;
        }
        if (!node->inputs.empty() && node->inputs[0] && node->inputs[0]->rank() == out_rank) {
          out_layout = node->inputs[0]->layout;
        }
        break;
      case LayoutClass::kElementwise: {
        Layout chosen = vote(*node, info, out_rank);
        for (const Value* in : node->inputs) {
          // A lower-rank computed operand would need its own reshape to broadcast against a
          // channels-last tensor; PyTorch order avoids that.
          if (in && !in->is_constant() && in->rank() >= 1 && in->rank() < out_rank)
            chosen = Layout::kPyTorch;
        }
        want_data(chosen);
        out_layout = chosen;
        break;
      }
      case LayoutClass::kAxes: {
        Layout chosen = node->op == "concat"
                            ? vote(*node, info, out_rank)
                            : canonical(node->inputs[0]->layout, node->inputs[0]->rank());
        std::optional<Layout> induced = axes_output_layout(*node, chosen);
        if (induced) {
          out_layout = *induced;
        } else {
          chosen = Layout::kPyTorch;
          out_layout = Layout::kPyTorch;
        }
        want_data(chosen);
        break;
      }
      case LayoutClass::kTranspose: {
        const Value* in = node->inputs[0];
        Layout in_layout = canonical(in->layout, in->rank());
        want[0] = in_layout;
        std::vector<int64_t> inv_in = invert(layout_perm(in_layout, in->rank()));
        std::vector<int64_t> perm = node->attrs.get_ints("perm");
        for (Layout candidate : {Layout::kChannelsLast, Layout::kPyTorch}) {
          std::vector<int64_t> p_out = layout_perm(candidate, out_rank);
          std::vector<int64_t> physical(out_rank);
          for (size_t j = 0; j < out_rank; ++j) physical[j] = inv_in[perm[p_out[j]]];
          if (is_identity(physical)) {
            out_layout = candidate;
            break;
          }
        }
        break;
      }
      case LayoutClass::kReshape: {
        const Value* in = node->inputs[0];
        const Value* out = node->outputs[0];
        Layout in_layout = canonical(in->layout, in->rank());
        want[0] = Layout::kPyTorch;
        if (in_layout == Layout::kChannelsLast && same_non_unit_sizes(in->shape, out->shape)) {
          auto seq = non_unit_physical(in->shape, in_layout);
          for (Layout candidate : {Layout::kChannelsLast, Layout::kPyTorch}) {
            if (non_unit_physical(out->shape, candidate) == seq) {
              want[0] = in_layout;
              out_layout = candidate;
              break;
            }
          }
        }
        break;
      }
    }
    plan.wanted_inputs[node] = std::move(want);
    for (Value* out : node->outputs) out->layout = canonical(out_layout, out->rank());
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    Value* out = graph.outputs[i];
    OrderRequest request = i < options.outputs.size() ? options.outputs[i] : OrderRequest::kAsIs;
    Layout layout = request == OrderRequest::kAsIs         ? out->layout
                    : request == OrderRequest::kTensorFlow ? Layout::kChannelsLast
                                                           : Layout::kPyTorch;
    plan.wanted_outputs.push_back(out->layout == Layout::kFixed ? Layout::kFixed
                                                                : canonical(layout, out->rank()));
  }
  return plan;
}

}  // namespace ferry
