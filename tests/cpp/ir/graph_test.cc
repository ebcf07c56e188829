#include "ir/graph.h"

#include <gtest/gtest.h>

#include "ir/dump.h"
#include "ir/verify.h"

namespace ferry {
namespace {

TEST(Graph, BuildsDumpsAndVerifies) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* w = g.add_constant(std::make_shared<TensorData>(DType::kFloat32, Shape{3}), "w");
  Node* n = g.add_node("mul", {x, w});
  Value* y = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "y");
  g.add_output_to(n, y);
  g.outputs.push_back(y);
  EXPECT_NO_THROW(verify(g, "test"));
  EXPECT_EQ(dump(g),
            "graph(%x: float32[1,3,8,8]) {\n"
            "  %w: float32[3] = const\n"
            "  %y: float32[1,3,8,8] = mul(%x, %w)\n"
            "  return %y\n"
            "}\n");
  EXPECT_EQ(x->users.size(), 1u);
}

TEST(Graph, VerifyRejectsUseBeforeDefinition) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2}, "x");
  g.inputs.push_back(x);
  Value* a = g.add_value(DType::kFloat32, {2}, "a");
  Node* second = g.add_node("neg", {a});
  g.add_output_to(second, g.add_value(DType::kFloat32, {2}, "b"));
  Node* first = g.add_node("relu", {x}, {}, second);  // inserted before, but defines `a`
  (void)first;
  EXPECT_THROW(verify(g, "test"), VerifyError);
}

TEST(Graph, RemoveAndReplaceKeepUseListsExact) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2}, "x");
  g.inputs.push_back(x);
  Node* id = g.add_node("identity", {x});
  Value* y = g.add_value(DType::kFloat32, {2}, "y");
  g.add_output_to(id, y);
  Node* relu = g.add_node("relu", {y, y});
  Value* z = g.add_value(DType::kFloat32, {2}, "z");
  g.add_output_to(relu, z);
  g.outputs.push_back(z);
  g.replace_all_uses(y, x);
  g.remove_node(id);
  EXPECT_EQ(relu->inputs[0], x);
  EXPECT_EQ(x->users.size(), 2u);
  EXPECT_EQ(g.num_nodes(), 1u);
  EXPECT_NO_THROW(verify(g, "test"));
}

TEST(Layout, ChannelsLastPermutation) {
  EXPECT_EQ(layout_perm(Layout::kChannelsLast, 4), (std::vector<int64_t>{0, 2, 3, 1}));
  EXPECT_EQ(layout_perm(Layout::kChannelsLast, 3), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(layout_perm(Layout::kChannelsLast, 2), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(layout_perm(Layout::kPyTorch, 4), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(TensorData, PermutedMovesElements) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, Shape{2, 3});
  for (int i = 0; i < 6; ++i) t->mutable_as<float>()[i] = static_cast<float>(i);
  auto p = t->permuted({1, 0});
  EXPECT_EQ(p->shape(), (Shape{3, 2}));
  const float* d = p->as<float>();
  EXPECT_EQ(std::vector<float>(d, d + 6), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  auto r = t->reshaped({3, 2});
  EXPECT_EQ(r->bytes(), t->bytes());  // shared, not copied
}

}  // namespace
}  // namespace ferry
