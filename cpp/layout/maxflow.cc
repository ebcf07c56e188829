#include "layout/maxflow.h"

#include <algorithm>
#include <queue>

namespace ferry {

MaxFlow::MaxFlow(int num_nodes) : head_(num_nodes, -1) {}

int MaxFlow::add_node() {
  head_.push_back(-1);
  return static_cast<int>(head_.size()) - 1;
}

void MaxFlow::add_edge(int from, int to, int64_t capacity) {
  if (from == to || capacity <= 0) return;
  edges_.push_back({to, head_[from], capacity});
  head_[from] = static_cast<int>(edges_.size()) - 1;
  edges_.push_back({from, head_[to], 0});
  head_[to] = static_cast<int>(edges_.size()) - 1;
}

bool MaxFlow::build_levels(int source, int sink) {
  level_.assign(head_.size(), -1);
  std::queue<int> queue;
  level_[source] = 0;
  queue.push(source);
  while (!queue.empty()) {
    int v = queue.front();
    queue.pop();
    for (int e = head_[v]; e >= 0; e = edges_[e].next) {
      if (edges_[e].capacity > 0 && level_[edges_[e].to] < 0) {
        level_[edges_[e].to] = level_[v] + 1;
        queue.push(edges_[e].to);
      }
    }
  }
  return level_[sink] >= 0;
}

// Iterative depth-first augmentation would avoid deep recursion; the layered graph of a
// model is shallow enough (depth ~ longest dependency chain) that recursion is fine, but we
// keep the stack bounded by walking with an explicit path anyway.
int64_t MaxFlow::push(int source, int sink, int64_t limit) {
  std::vector<int> path_edges;
  int64_t total = 0;
  int v = source;
  while (true) {
    if (v == sink) {
      int64_t flow = limit - total;
      for (int e : path_edges) flow = std::min(flow, edges_[e].capacity);
      for (int e : path_edges) {
        edges_[e].capacity -= flow;
        edges_[e ^ 1].capacity += flow;
      }
      total += flow;
      if (total == limit) return total;
      path_edges.clear();
      v = source;
      continue;
    }
    bool advanced = false;
    for (int& e = cursor_[v]; e >= 0; e = edges_[e].next) {
      const Edge& edge = edges_[e];
      if (edge.capacity > 0 && level_[edge.to] == level_[v] + 1) {
        path_edges.push_back(e);
        v = edge.to;
        advanced = true;
        break;
      }
    }
    if (advanced) continue;
    // Dead end: remove v from the level graph and step back.
    level_[v] = -1;
    if (path_edges.empty()) return total;
    v = edges_[path_edges.back() ^ 1].to;
    path_edges.pop_back();
    cursor_[v] = edges_[cursor_[v]].next;
  }
}

int64_t MaxFlow::max_flow(int source, int sink) {
  int64_t flow = 0;
  while (build_levels(source, sink)) {
    cursor_ = head_;
    flow += push(source, sink, kInfinity);
    if (flow >= kInfinity) break;
  }
  // Residual reachability from the source defines the source side of a minimum cut.
  reached_.assign(head_.size(), false);
  std::queue<int> queue;
  reached_[source] = true;
  queue.push(source);
  while (!queue.empty()) {
    int v = queue.front();
    queue.pop();
    for (int e = head_[v]; e >= 0; e = edges_[e].next) {
      if (edges_[e].capacity > 0 && !reached_[edges_[e].to]) {
        reached_[edges_[e].to] = true;
        queue.push(edges_[e].to);
      }
    }
  }
  return flow;
}

}  // namespace ferry
