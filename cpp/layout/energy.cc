#include "layout/energy.h"

#include <algorithm>
#include <unordered_map>

#include "layout/op_layout.h"

namespace ferry {
namespace {

bool ordered(const Value* v) {
  return v && !v->is_constant() && v->layout != Layout::kFixed && v->rank() >= 3;
}

int64_t bytes_of(const Value* v) {
  return num_elements(v->shape) * static_cast<int64_t>(dtype_size(v->dtype));
}

Literal no_want() { return {kNoWant, Layout::kPyTorch}; }

bool is_data_input(const OpLayout& info, size_t index) {
  return info.data_inputs.empty() || std::find(info.data_inputs.begin(), info.data_inputs.end(),
                                               index) != info.data_inputs.end();
}

// A free choice (variable) unless channels-last is impossible or meaningless for the node.
struct ModeBuilder {
  LayoutEnergy& energy;
  Literal free_mode() {
    energy.unary.push_back({0, 0});
    return Literal::variable(energy.num_vars++);
  }
};

}  // namespace

int64_t LayoutEnergy::evaluate(const std::vector<uint8_t>& labels) const {
  int64_t total = 0;
  for (int v = 0; v < num_vars; ++v) total += unary[v][labels[v]];
  for (const auto& t : disagree) {
    int own = t.value.label(labels);
    for (const auto& w : t.wants) {
      if (w.label(labels) != own) {
        total += t.bytes;
        break;
      }
    }
  }
  for (const auto& p : pairs) total += p.table[p.a.label(labels)][p.b.label(labels)];
  return total;
}

int64_t LayoutEnergy::count_transposes(const std::vector<uint8_t>& labels) const {
  int64_t count = 0;
  for (const auto& t : disagree) {
    int own = t.value.label(labels);
    bool differs = false;
    for (const auto& w : t.wants) differs |= w.label(labels) != own;
    count += differs;
  }
  for (const auto& p : pairs) count += p.table[p.a.label(labels)][p.b.label(labels)] > 0;
  return count;
}

std::vector<uint8_t> labels_from_plan(const LayoutModel& model, const LayoutPlan& plan) {
  std::vector<uint8_t> labels(model.energy.num_vars, 0);
  for (size_t n = 0; n < model.nodes.size(); ++n) {
    const NodeChoice& choice = model.choices[n];
    if (!choice.mode.is_var()) continue;
    const Node* node = model.nodes[n];
    // The node's mode is the order it was given its data inputs in, or its output's order.
    Layout mode = node->outputs.empty() ? Layout::kPyTorch : node->outputs[0]->layout;
    auto it = plan.wanted_inputs.find(node);
    for (size_t i = 0; it != plan.wanted_inputs.end() && i < node->inputs.size(); ++i) {
      if (choice.input_wants[i].var != kNoWant) {
        mode = it->second[i];
        break;
      }
    }
    labels[choice.mode.var] = mode == Layout::kChannelsLast;
  }
  return labels;
}

LayoutModel build_layout_model(Graph& graph, const LayoutOptions& options) {
  LayoutModel model;
  LayoutEnergy& energy = model.energy;
  ModeBuilder modes{energy};

  std::unordered_map<const Value*, Literal> layout_of;
  std::unordered_map<const Value*, std::vector<Literal>> wants_of;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    Value* in = graph.inputs[i];
    bool tf = i < options.inputs.size() && options.inputs[i] == OrderRequest::kTensorFlow;
    in->layout = canonical(tf ? Layout::kChannelsLast : Layout::kPyTorch, in->rank());
    layout_of[in] = Literal::of(in->layout);
  }
  auto literal_of = [&](const Value* v) {
    auto it = layout_of.find(v);
    return it == layout_of.end() ? Literal::of(Layout::kPyTorch) : it->second;
  };

  for (Node* node : graph.nodes()) {
    const OpLayout info = op_layout(*node);
    NodeChoice choice;
    choice.input_wants.assign(node->inputs.size(), no_want());
    const Value* out0 = node->outputs.empty() ? nullptr : node->outputs[0];
    const size_t out_rank = out0 ? out0->rank() : 0;
    std::vector<std::pair<Layout, Layout>> out_by_mode(node->outputs.size(),
                                                       {Layout::kPyTorch, Layout::kPyTorch});
    auto outputs_follow_mode = [&] {
      for (size_t k = 0; k < node->outputs.size(); ++k) {
        out_by_mode[k] = {Layout::kPyTorch,
                          canonical(Layout::kChannelsLast, node->outputs[k]->rank())};
      }
    };
    auto want_data = [&] {
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        if (is_data_input(info, i) && ordered(node->inputs[i])) choice.input_wants[i] = choice.mode;
      }
    };

    switch (info.cls) {
      case LayoutClass::kChannelsLast:
        choice.mode = Literal::of(Layout::kChannelsLast);
        want_data();
        outputs_follow_mode();
        break;
      case LayoutClass::kPyTorchOrder:
        choice.mode = Literal::of(Layout::kPyTorch);
        want_data();
        break;
      case LayoutClass::kCarried: {
        bool free = false;
        for (const Value* in : node->inputs)
          free |= in && in->layout != Layout::kFixed && in->rank() >= 3;
        choice.mode = free ? modes.free_mode() : Literal::of(Layout::kPyTorch);
        want_data();
        if (free) outputs_follow_mode();
        break;
      }
      case LayoutClass::kPassThrough: {
        // The user's code sees its inputs as they are; its outputs are taken to be in the
        // order of its first input.
        const Value* in0 = node->inputs.empty() ? nullptr : node->inputs[0];
        choice.mode = ordered(in0) ? literal_of(in0) : Literal::of(Layout::kPyTorch);
        if (choice.mode.is_var() || choice.mode.fixed == Layout::kChannelsLast)
          outputs_follow_mode();
        break;
      }
      case LayoutClass::kElementwise: {
        bool free = out_rank >= 3;
        for (const Value* in : node->inputs) {
          // A lower-rank computed operand would broadcast against the wrong axes.
          if (in && !in->is_constant() && in->rank() >= 1 && in->rank() < out_rank) free = false;
        }
        choice.mode = free ? modes.free_mode() : Literal::of(Layout::kPyTorch);
        want_data();
        if (free) outputs_follow_mode();
        break;
      }
      case LayoutClass::kAxes: {
        const Value* in0 = node->inputs[0];
        auto with_cl =
            in0->rank() >= 3 ? axes_output_layout(*node, Layout::kChannelsLast) : std::nullopt;
        choice.mode = with_cl ? modes.free_mode() : Literal::of(Layout::kPyTorch);
        want_data();
        if (with_cl) {
          for (auto& o : out_by_mode) o = {Layout::kPyTorch, *with_cl};
        }
        break;
      }
      case LayoutClass::kReshape: {
        const Value* in0 = node->inputs[0];
        auto with_cl = ordered(in0)
                           ? reshape_output_layout(in0->shape, Layout::kChannelsLast, out0->shape)
                           : std::nullopt;
        choice.mode = with_cl ? modes.free_mode() : Literal::of(Layout::kPyTorch);
        want_data();
        if (with_cl) out_by_mode[0] = {Layout::kPyTorch, *with_cl};
        break;
      }
      case LayoutClass::kTranspose: {
        // The node's own choice is its output's order; the input stays where it is.
        const Value* in0 = node->inputs[0];
        choice.mode = out_rank >= 3 ? modes.free_mode() : Literal::of(Layout::kPyTorch);
        outputs_follow_mode();
        std::vector<int64_t> perm = node->attrs.get_ints("perm");
        PairTerm term;
        term.a = literal_of(in0);
        term.b = choice.mode;
        for (int a = 0; a < 2; ++a) {
          for (int b = 0; b < 2; ++b) {
            Layout la = a ? canonical(Layout::kChannelsLast, in0->rank()) : Layout::kPyTorch;
            Layout lb = b ? canonical(Layout::kChannelsLast, out_rank) : Layout::kPyTorch;
            term.table[a][b] =
                is_identity(transpose_physical_perm(perm, la, lb)) ? 0 : bytes_of(in0);
          }
        }
        energy.pairs.push_back(term);
        break;
      }
    }
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      // A loop value keeps its rank: a constant below rank 3 has one order only.
      const bool low_rank_loop_value =
          info.cls == LayoutClass::kCarried && node->inputs[i] && node->inputs[i]->rank() < 3;
      choice.data.push_back(info.cls != LayoutClass::kTranspose &&
                            info.cls != LayoutClass::kPassThrough && is_data_input(info, i) &&
                            !low_rank_loop_value);
    }
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      if (choice.input_wants[i].var != kNoWant)
        wants_of[node->inputs[i]].push_back(choice.input_wants[i]);
    }
    for (size_t k = 0; k < node->outputs.size(); ++k) {
      Literal lit;
      auto [if_pt, if_cl] = out_by_mode[k];
      if (choice.mode.is_var()) {
        lit = if_pt == if_cl ? Literal::of(if_pt) : Literal::variable(choice.mode.var);
      } else {
        lit = Literal::of(choice.mode.fixed == Layout::kChannelsLast ? if_cl : if_pt);
      }
      layout_of[node->outputs[k]] = lit;
      choice.outputs.push_back(lit);
    }
    model.nodes.push_back(node);
    model.choices.push_back(std::move(choice));
  }

  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    const Value* out = graph.outputs[i];
    OrderRequest request = i < options.outputs.size() ? options.outputs[i] : OrderRequest::kAsIs;
    Literal want = no_want();
    if (ordered(out) && request != OrderRequest::kAsIs) {
      want = Literal::of(request == OrderRequest::kTensorFlow ? Layout::kChannelsLast
                                                              : Layout::kPyTorch);
      wants_of[out].push_back(want);
    }
    model.graph_output_wants.push_back(want);
  }

  // One disagreement term per value, in a deterministic order.
  std::vector<const Value*> order;
  for (const Value* in : graph.inputs) order.push_back(in);
  for (const Node* node : graph.nodes()) {
    for (const Value* out : node->outputs) order.push_back(out);
  }
  for (const Value* v : order) {
    auto it = wants_of.find(v);
    if (it == wants_of.end() || !ordered(v)) continue;
    energy.disagree.push_back({literal_of(v), it->second, bytes_of(v)});
  }
  return model;
}

LayoutPlan plan_from_labels(Graph& graph, const LayoutModel& model,
                            const std::vector<uint8_t>& labels) {
  auto layout = [&](const Literal& lit, size_t rank) {
    return canonical(lit.label(labels) ? Layout::kChannelsLast : Layout::kPyTorch, rank);
  };
  LayoutPlan plan;
  for (size_t n = 0; n < model.nodes.size(); ++n) {
    Node* node = model.nodes[n];
    const NodeChoice& choice = model.choices[n];
    std::vector<Layout> want(node->inputs.size());
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      Value* in = node->inputs[i];
      if (!in) continue;
      if (in->layout == Layout::kFixed) {
        want[i] = Layout::kFixed;
        continue;
      }
      if (in->is_constant()) {
        // Data constants follow the node's order, uncanonicalised: materialisation aligns a
        // lower-rank operand to the rank it broadcasts to before permuting it, offline.
        want[i] = choice.data[i] && choice.mode.label(labels) ? Layout::kChannelsLast : in->layout;
        continue;
      }
      want[i] = choice.input_wants[i].var == kNoWant ? in->layout
                                                     : layout(choice.input_wants[i], in->rank());
    }
    plan.wanted_inputs[node] = std::move(want);
    for (size_t k = 0; k < node->outputs.size(); ++k) {
      node->outputs[k]->layout = layout(choice.outputs[k], node->outputs[k]->rank());
    }
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    Value* out = graph.outputs[i];
    const Literal& want = model.graph_output_wants[i];
    plan.wanted_outputs.push_back(out->layout == Layout::kFixed ? Layout::kFixed
                                  : want.var == kNoWant         ? out->layout
                                                                : layout(want, out->rank()));
  }
  return plan;
}

}  // namespace ferry
