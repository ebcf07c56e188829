#include <gtest/gtest.h>

#include "ir/verify.h"
#include "passes/passes.h"

namespace ferry {
namespace {

Value* op(Graph& g, const std::string& name, Value* in, Shape shape, Attrs attrs = {}) {
  Node* n = g.add_node(name, {in}, std::move(attrs));
  Value* v = g.add_value(DType::kFloat32, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

Attrs perm(std::vector<int64_t> p) {
  Attrs a;
  a.set("perm", p);
  return a;
}

TEST(Passes, TransposePairCancels) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 2, 3, 4}, "x");
  g.inputs.push_back(x);
  Value* a = op(g, "transpose", x, {1, 3, 4, 2}, perm({0, 2, 3, 1}));
  Value* b = op(g, "transpose", a, {1, 2, 3, 4}, perm({0, 3, 1, 2}));
  Value* r = op(g, "relu", b, {1, 2, 3, 4});
  g.outputs.push_back(r);
  while (remove_noops(g) | fold_transposes(g) | eliminate_dead_code(g)) {
  }
  verify(g, "test");
  EXPECT_EQ(transpose_stats(g).count, 0);
  EXPECT_EQ(g.num_nodes(), 1u);
}

TEST(Passes, TransposeOfUnitDimsBecomesReshape) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 8, 1, 1}, "x");
  g.inputs.push_back(x);
  Value* t = op(g, "transpose", x, {2, 1, 1, 8}, perm({0, 2, 3, 1}));
  g.outputs.push_back(t);
  EXPECT_TRUE(fold_reshapes(g));
  EXPECT_EQ(g.nodes()[0]->op, "reshape");
  EXPECT_EQ(g.nodes()[0]->attrs.get_ints("shape"), (std::vector<int64_t>{2, 1, 1, 8}));
}

TEST(Passes, TransposeThatMovesDataStays) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 8, 3, 1}, "x");
  g.inputs.push_back(x);
  Value* t = op(g, "transpose", x, {2, 3, 1, 8}, perm({0, 2, 3, 1}));
  g.outputs.push_back(t);
  EXPECT_FALSE(fold_reshapes(g));
  EXPECT_EQ(transpose_stats(g).count, 1);
}

TEST(Passes, ReshapeChainsCollapse) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 6}, "x");
  g.inputs.push_back(x);
  Attrs s1, s2;
  s1.set("shape", std::vector<int64_t>{2, 2, 3});
  s2.set("shape", std::vector<int64_t>{4, 3});
  Value* a = op(g, "reshape", x, {2, 2, 3}, s1);
  Value* b = op(g, "reshape", a, {4, 3}, s2);
  g.outputs.push_back(b);
  EXPECT_TRUE(fold_reshapes(g));
  verify(g, "test");
  ASSERT_EQ(g.num_nodes(), 1u);
  EXPECT_EQ(g.nodes()[0]->inputs[0], x);
}

// An output that a free transpose only relabels ([N, H, W, C] in PyTorch order to
// [N, C, H, W] channels-last) is replaced by its input, which then has to be read as the
// output's PyTorch value is: in the output's logical shape and order.
TEST(Passes, FreeTransposeHandsItsLabelsToAnUnlabelledInput) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 4, 6, 2}, "x");
  g.inputs.push_back(x);
  Value* a = op(g, "relu", x, {1, 4, 6, 2});
  Value* b = op(g, "transpose", a, {1, 2, 4, 6}, perm({0, 1, 2, 3}));
  b->layout = Layout::kChannelsLast;
  b->origin = 7;
  g.outputs.push_back(b);
  EXPECT_TRUE(remove_noops(g));
  ASSERT_EQ(g.outputs[0], a);
  EXPECT_EQ(a->origin, 7);
  EXPECT_EQ(a->shape, (Shape{1, 2, 4, 6}));
  EXPECT_EQ(a->layout, Layout::kChannelsLast);
  EXPECT_EQ(a->physical_shape(), (Shape{1, 4, 6, 2}));
}

TEST(Passes, DeadCodeGoesInOneSweep) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2}, "x");
  g.inputs.push_back(x);
  Value* a = op(g, "relu", x, {2});
  op(g, "neg", a, {2});  // nothing uses it, and then nothing uses a
  Value* keep = op(g, "abs", x, {2});
  g.outputs.push_back(keep);
  EXPECT_TRUE(eliminate_dead_code(g));
  EXPECT_EQ(g.num_nodes(), 1u);
}

}  // namespace
}  // namespace ferry
