#pragma once

#include <cstdint>
#include <vector>

namespace ferry {

// Maximum flow / minimum s-t cut (Dinic's algorithm with capacity-scaled BFS levels). Node
// ids are dense; after max_flow(), on_source_side(v) tells which side of the minimum cut v is.
class MaxFlow {
 public:
  static constexpr int64_t kInfinity = int64_t{1} << 60;

  explicit MaxFlow(int num_nodes);
  int add_node();
  void add_edge(int from, int to, int64_t capacity);
  int64_t max_flow(int source, int sink);
  bool on_source_side(int node) const { return reached_[node]; }
  int num_nodes() const { return static_cast<int>(head_.size()); }

 private:
  struct Edge {
    int to;
    int next;
    int64_t capacity;
  };
  bool build_levels(int source, int sink);
  int64_t push(int node, int sink, int64_t limit);

  std::vector<Edge> edges_;
  std::vector<int> head_;
  std::vector<int> level_;
  std::vector<int> cursor_;
  std::vector<bool> reached_;
};

}  // namespace ferry
