// Exact channel-order assignment by s-t minimum cut.
//
// Every term of the layout energy is either an "agreement" term (a value pays if a consumer
// wants the other order), which is submodular, or the cost table of a transpose in the model.
// A transpose that is free exactly when input and output orders *differ* (the common case:
// permute(0, 2, 3, 1) after a channels-last op) is supermodular. Relabelling the variables on
// one side of it (x -> 1 - x) makes it submodular, and agreement terms stay submodular as long
// as everything they link is relabelled alike. A weighted union-find assigns these parities;
// if some transpose closes an odd cycle the problem is "frustrated": small ones are then
// enumerated, large ones solved with that transpose's interaction dropped (an upper bound).
#include "layout/solver.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "layout/maxflow.h"

namespace ferry {
namespace {

// Union-find where each element stores its parity relative to its parent.
class ParityUnionFind {
 public:
  explicit ParityUnionFind(int n) : parent_(n), parity_(n, 0) {
    std::iota(parent_.begin(), parent_.end(), 0);
  }

  std::pair<int, uint8_t> find(int v) {
    uint8_t p = 0;
    int root = v;
    while (parent_[root] != root) {
      p ^= parity_[root];
      root = parent_[root];
    }
    // Path compression, keeping parities relative to the root.
    uint8_t acc = p;
    while (parent_[v] != v) {
      int next = parent_[v];
      uint8_t own = parity_[v];
      parent_[v] = root;
      parity_[v] = acc;
      acc ^= own;
      v = next;
    }
    return {root, p};
  }

  // Requires parity(a) ^ parity(b) == relation; false when that contradicts what is known.
  bool unite(int a, int b, uint8_t relation) {
    auto [ra, pa] = find(a);
    auto [rb, pb] = find(b);
    if (ra == rb) return (pa ^ pb) == relation;
    parent_[ra] = rb;
    parity_[ra] = pa ^ pb ^ relation;
    return true;
  }

 private:
  std::vector<int> parent_;
  std::vector<uint8_t> parity_;
};

bool submodular(const std::array<std::array<int64_t, 2>, 2>& t) {
  return t[0][0] + t[1][1] <= t[0][1] + t[1][0];
}
bool modular(const std::array<std::array<int64_t, 2>, 2>& t) {
  return t[0][0] + t[1][1] == t[0][1] + t[1][0];
}

class CutBuilder {
 public:
  CutBuilder(int num_vars, const std::vector<uint8_t>& parity)
      : flow_(num_vars + 2), parity_(parity), source_(num_vars), sink_(num_vars + 1) {}

  // cost0 when the (relabelled) variable is 0, cost1 when 1.
  void unary(int v, int64_t cost0, int64_t cost1) {
    int64_t m = std::min(cost0, cost1);
    constant_ += m;
    if (cost1 - m > 0) flow_.add_edge(source_, v, cost1 - m);
    if (cost0 - m > 0) flow_.add_edge(v, sink_, cost0 - m);
  }

  // Label of a literal in relabelled space: variables flip by their parity; a constant flips
  // by the parity of the term it sits in.
  int label(const Literal& lit, uint8_t term_parity) const {
    return (lit.fixed == Layout::kChannelsLast ? 1 : 0) ^ term_parity;
  }

  void disagree(const DisagreeTerm& t) {
    uint8_t p = 0;
    bool any_var = t.value.is_var();
    if (any_var) p = parity_[t.value.var];
    for (const auto& w : t.wants) {
      if (w.is_var() && !any_var) {
        p = parity_[w.var];
        any_var = true;
      }
    }
    if (!any_var) {
      for (const auto& w : t.wants) {
        if (label(w, 0) != label(t.value, 0)) {
          constant_ += t.bytes;
          break;
        }
      }
      return;
    }
    std::vector<int> var_wants;
    bool want0 = false, want1 = false;
    for (const auto& w : t.wants) {
      if (w.is_var()) {
        if (!t.value.is_var() || w.var != t.value.var) var_wants.push_back(w.var);
      } else {
        (label(w, p) ? want1 : want0) = true;
      }
    }
    const int64_t inf = MaxFlow::kInfinity;
    if (!t.value.is_var()) {
      int own = label(t.value, p);
      if ((own == 0 && want1) || (own == 1 && want0)) {
        constant_ += t.bytes;
        return;
      }
      if (var_wants.empty()) return;
      int aux = flow_.add_node();
      if (own == 0) {  // pays if some want is 1: aux=1 costs B, want=1 forces aux=1
        flow_.add_edge(source_, aux, t.bytes);
        for (int m : var_wants) flow_.add_edge(aux, m, inf);
      } else {  // pays if some want is 0
        flow_.add_edge(aux, sink_, t.bytes);
        for (int m : var_wants) flow_.add_edge(m, aux, inf);
      }
      return;
    }
    const int x = t.value.var;
    if (var_wants.size() == 1 && !want0 && !want1) {
      flow_.add_edge(x, var_wants[0], t.bytes);
      flow_.add_edge(var_wants[0], x, t.bytes);
      return;
    }
    if (want1 || !var_wants.empty()) {  // B * [x = 0 and some want is 1]
      int u = flow_.add_node();
      flow_.add_edge(x, u, t.bytes);
      for (int m : var_wants) flow_.add_edge(u, m, inf);
      if (want1) flow_.add_edge(u, sink_, inf);
    }
    if (want0 || !var_wants.empty()) {  // B * [x = 1 and some want is 0]
      int w = flow_.add_node();
      flow_.add_edge(w, x, t.bytes);
      for (int m : var_wants) flow_.add_edge(m, w, inf);
      if (want0) flow_.add_edge(source_, w, inf);
    }
  }

  void pair(const PairTerm& t, bool drop_interaction) {
    auto table = t.table;
    auto flip_rows = [&] { std::swap(table[0], table[1]); };
    auto flip_cols = [&] {
      std::swap(table[0][0], table[0][1]);
      std::swap(table[1][0], table[1][1]);
    };
    if (t.a.is_var() && parity_[t.a.var]) flip_rows();
    if (t.b.is_var() && parity_[t.b.var]) flip_cols();
    if (!t.a.is_var() && !t.b.is_var()) {
      constant_ += table[label(t.a, 0)][label(t.b, 0)];
      return;
    }
    if (!t.a.is_var()) {
      int la = label(t.a, 0);
      unary(t.b.var, table[la][0], table[la][1]);
      return;
    }
    if (!t.b.is_var()) {
      int lb = label(t.b, 0);
      unary(t.a.var, table[0][lb], table[1][lb]);
      return;
    }
    if (t.a.var == t.b.var) {
      unary(t.a.var, table[0][0], table[1][1]);
      return;
    }
    // E = T00 + (T10-T00) a + (T11-T10) b + c (1-a) b,  c = T10 + T01 - T00 - T11
    int64_t c = table[1][0] + table[0][1] - table[0][0] - table[1][1];
    constant_ += table[0][0];
    unary(t.a.var, 0, table[1][0] - table[0][0]);
    unary(t.b.var, 0, table[1][1] - table[1][0]);
    if (c > 0) {
      flow_.add_edge(t.a.var, t.b.var, c);
    } else if (c < 0 && !drop_interaction) {
      // Cannot happen after relabelling; kept as a guard for the exactness claim.
      throw std::logic_error("layout solver: non-submodular term reached the cut");
    }
    // A frustrated term's negative interaction is dropped: the cut then optimises an upper
    // bound, and the caller reports the true cost of the labelling it returns.
  }

  std::vector<uint8_t> solve(int num_vars) {
    flow_.max_flow(source_, sink_);
    std::vector<uint8_t> labels(num_vars);
    for (int v = 0; v < num_vars; ++v) labels[v] = (flow_.on_source_side(v) ? 0 : 1) ^ parity_[v];
    return labels;
  }

 private:
  MaxFlow flow_;
  const std::vector<uint8_t>& parity_;
  int source_, sink_;
  int64_t constant_ = 0;
};

std::vector<uint8_t> enumerate(const LayoutEnergy& energy) {
  const int n = energy.num_vars;
  std::vector<uint8_t> labels(n, 0), best(n, 0);
  int64_t best_cost = energy.evaluate(labels);
  for (uint64_t code = 1; code < (uint64_t{1} << n); ++code) {
    for (int v = 0; v < n; ++v) labels[v] = (code >> v) & 1;
    int64_t cost = energy.evaluate(labels);
    if (cost < best_cost) {
      best_cost = cost;
      best = labels;
    }
  }
  return best;
}

}  // namespace

std::vector<uint8_t> solve_layout_energy(const LayoutEnergy& energy, const SolveOptions& options,
                                         SolveStats* stats) {
  const int n = energy.num_vars;
  ParityUnionFind parities(n);
  // Agreement terms first: they only ever ask for equal parity, so they never conflict.
  for (const auto& t : energy.disagree) {
    int anchor = t.value.is_var() ? t.value.var : -1;
    for (const auto& w : t.wants) {
      if (!w.is_var()) continue;
      if (anchor < 0)
        anchor = w.var;
      else
        parities.unite(anchor, w.var, 0);
    }
  }
  std::vector<bool> frustrated(energy.pairs.size(), false);
  int frustrated_count = 0;
  for (size_t i = 0; i < energy.pairs.size(); ++i) {
    const PairTerm& t = energy.pairs[i];
    if (!t.a.is_var() || !t.b.is_var() || t.a.var == t.b.var || modular(t.table)) continue;
    if (!parities.unite(t.a.var, t.b.var, submodular(t.table) ? 0 : 1)) {
      frustrated[i] = true;
      ++frustrated_count;
    }
  }
  std::vector<uint8_t> parity(n);
  for (int v = 0; v < n; ++v) parity[v] = parities.find(v).second;

  SolveStats local;
  local.variables = n;
  local.frustrated_terms = frustrated_count;
  std::vector<uint8_t> labels;
  if (frustrated_count > 0 && options.allow_exhaustive && n <= options.exhaustive_limit) {
    labels = enumerate(energy);
    local.method = "enumeration";
  } else {
    CutBuilder cut(n, parity);
    for (int v = 0; v < n; ++v) cut.unary(v, energy.unary[v][0], energy.unary[v][1]);
    for (const auto& t : energy.disagree) cut.disagree(t);
    for (size_t i = 0; i < energy.pairs.size(); ++i) cut.pair(energy.pairs[i], frustrated[i]);
    labels = cut.solve(n);
    local.exact = frustrated_count == 0;
    local.method = local.exact ? "min-cut" : "min-cut (approximate)";
  }
  local.cost = energy.evaluate(labels);
  local.all_pytorch_cost = energy.evaluate(std::vector<uint8_t>(n, 0));
  if (stats) *stats = local;
  return labels;
}

LayoutPlan assign_layouts_optimal(Graph& graph, const LayoutOptions& options, SolveStats* stats) {
  LayoutModel model = build_layout_model(graph, options);
  // The baseline is scored under the same cost model: greedy decisions, then our labels.
  std::vector<uint8_t> greedy = labels_from_plan(model, assign_layouts_greedy(graph, options));
  SolveStats local;
  std::vector<uint8_t> labels = solve_layout_energy(model.energy, SolveOptions{}, &local);
  local.node_by_node_cost = model.energy.evaluate(greedy);
  local.node_by_node_count = model.energy.count_transposes(greedy);
  local.count = model.energy.count_transposes(labels);
  if (stats) *stats = local;
  return plan_from_labels(graph, model, labels);
}

}  // namespace ferry
