// Times the global channel-order solver on synthetic graphs of a given size:
//   ferry-layout-bench 20000
// The graph is a residual network of channels-last convs, elementwise ops, reductions and
// layout-changing permutes, so every kind of term appears in the energy.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "layout/solver.h"
#include "passes/pipeline.h"

namespace {

using namespace ferry;

Value* op(Graph& g, const char* name, std::vector<Value*> inputs, Shape shape, Attrs attrs = {}) {
  Node* n = g.add_node(name, std::move(inputs), std::move(attrs));
  Value* v = g.add_value(DType::kFloat32, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

std::unique_ptr<Graph> synthetic(size_t target_nodes) {
  auto g = std::make_unique<Graph>();
  const Shape nchw = {1, 16, 32, 32}, nhwc = {1, 32, 32, 16};
  Value* x = g->add_value(DType::kFloat32, nchw, "x");
  g->inputs.push_back(x);
  auto kernel = std::make_shared<TensorData>(DType::kFloat32, Shape{1, 1, 16, 16});
  Value* k = g->add_constant(kernel);
  k->layout = Layout::kFixed;
  Value* cur = x;
  Value* skip = x;
  Attrs to_nhwc, to_nchw, mean;
  to_nhwc.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  to_nchw.set("perm", std::vector<int64_t>{0, 3, 1, 2});
  mean.set("axes", std::vector<int64_t>{2, 3});
  mean.set("keepdims", true);
  for (size_t i = 0; g->num_nodes() < target_nodes; ++i) {
    Value* c = op(*g, "conv", {cur, k, nullptr}, nchw);
    Value* s = op(*g, "add", {c, skip}, nchw);
    Value* r = op(*g, "relu", {s}, nchw);
    if (i % 3 == 0) {  // squeeze-excite style gate
      Value* m = op(*g, "mean", {r}, {1, 16, 1, 1}, mean);
      Value* gate = op(*g, "sigmoid", {m}, {1, 16, 1, 1});
      r = op(*g, "mul", {r, gate}, nchw);
    }
    if (i % 5 == 0) {  // a block written channels-last by hand, then back
      Value* t = op(*g, "transpose", {r}, nhwc, to_nhwc);
      Value* d = op(*g, "gelu", {t}, nhwc);
      r = op(*g, "transpose", {d}, nchw, to_nchw);
    }
    skip = cur;
    cur = r;
  }
  g->outputs.push_back(cur);
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  size_t nodes = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  auto graph = synthetic(nodes);
  LayoutOptions options{{OrderRequest::kPyTorch}, {OrderRequest::kPyTorch}};
  auto start = std::chrono::steady_clock::now();
  SolveStats stats;
  LayoutPlan plan = assign_layouts_optimal(*graph, options, &stats);
  auto solved = std::chrono::steady_clock::now();
  materialize_layouts(*graph, plan);
  cleanup(*graph);
  auto done = std::chrono::steady_clock::now();
  auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf(
      "nodes=%zu variables=%d method=%s exact=%d solve_s=%.3f materialize_s=%.3f transposes=%lld "
      "node_by_node_transposes=%lld\n",
      nodes, stats.variables, stats.method.c_str(), stats.exact ? 1 : 0, seconds(start, solved),
      seconds(solved, done), static_cast<long long>(transpose_stats(*graph).count),
      static_cast<long long>(stats.node_by_node_count));
  return 0;
}
