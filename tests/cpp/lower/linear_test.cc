#include <gtest/gtest.h>

#include "call_fixture.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

using Ints = std::vector<int64_t>;

TEST(LinearLowering, ConstantWeightIsDense) {
  Call c;
  c.input("input", {2, 5, 3}).constant("weight", iota({4, 3})).constant("bias", iota({4}));
  auto r = c.run("torch.nn.functional.linear", {}, {2, 5, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"dense"});
  const Node* dense = find(r, "dense");
  const Value* kernel = dense->inputs[1];
  EXPECT_EQ(kernel->layout, Layout::kFixed);
  ASSERT_EQ(kernel->shape, (Shape{3, 4}));
  // weight[o, i] (= o*3 + i) moves to kernel[i, o].
  const float* k = kernel->constant->as<float>();
  EXPECT_EQ(k[1 * 4 + 2], 2 * 3 + 1);
  EXPECT_EQ(k[2 * 4 + 3], 3 * 3 + 2);
  EXPECT_EQ(dense->inputs[2]->layout, Layout::kFixed);
  EXPECT_EQ(dense->outputs[0]->shape, (Shape{2, 5, 4}));
}

TEST(LinearLowering, ComputedWeightIsMatmulTransposed) {
  Call c;
  c.input("input", {2, 3}).input("weight", {4, 3}).constant("bias", iota({4}));
  auto r = c.run("aten.linear.default", {}, {2, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"matmul", "add"}));
  const Node* mm = find(r, "matmul");
  EXPECT_FALSE(mm->attrs.get_bool("transpose_a"));
  EXPECT_TRUE(mm->attrs.get_bool("transpose_b"));
  EXPECT_EQ(mm->outputs[0]->shape, (Shape{2, 4}));
}

TEST(LinearLowering, BatchedMatmulBroadcasts) {
  Call c;
  c.input("input", {2, 1, 5, 3}).input("other", {4, 3, 6});
  auto r = c.run("torch.matmul", {}, {2, 4, 5, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"matmul"});
  EXPECT_FALSE(find(r, "matmul")->attrs.get_bool("transpose_b"));

  Call d;
  d.input("input", {2, 5, 3}).input("mat2", {2, 3, 6});
  r = d.run("torch.bmm", {}, {2, 5, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"matmul"});
}

TEST(LinearLowering, VectorOperandsAreMadeMatrices) {
  Call c;
  c.input("input", {3}).input("other", {2, 3, 4});
  auto r = c.run("torch.Tensor.__matmul__", {}, {2, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"reshape", "matmul", "reshape"}));
  EXPECT_EQ(find(r, "reshape")->outputs[0]->shape, (Shape{1, 3}));
  EXPECT_EQ(find(r, "matmul")->outputs[0]->shape, (Shape{2, 1, 4}));
  EXPECT_EQ(r.graph->outputs[0]->shape, (Shape{2, 4}));

  // A constant vector is reshaped at conversion time, not by an op.
  Call d;
  d.input("input", {5, 3}).constant("other", iota({3}));
  r = d.run("torch.matmul", {}, {5});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"matmul", "reshape"}));
  const Node* mm = find(r, "matmul");
  EXPECT_TRUE(mm->inputs[1]->is_constant());
  EXPECT_EQ(mm->inputs[1]->shape, (Shape{3, 1}));

  Call e;
  e.input("input", {3}).input("other", {3});
  r = e.run("torch.matmul", {}, {});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "matmul")->outputs[0]->shape, (Shape{1, 1}));
  EXPECT_EQ(r.graph->outputs[0]->shape, Shape{});
}

TEST(LinearLowering, ConstantMatrixStaysAMatmulOperand) {
  Call c;
  c.input("input", {2, 5, 3}).constant("mat2", iota({3, 4}));
  auto r = c.run("torch.Tensor.matmul", {}, {2, 5, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"matmul"});
  const Value* b = find(r, "matmul")->inputs[1];
  EXPECT_TRUE(b->is_constant());
  EXPECT_EQ(b->layout, Layout::kPyTorch);
  EXPECT_EQ(b->shape, (Shape{3, 4}));
}

TEST(LinearLowering, RightMatmulSwapsOperands) {
  Call c;
  c.input("input", {3, 4}).input("other", {5, 3});
  auto r = c.run("torch.Tensor.__rmatmul__", {}, {5, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* mm = find(r, "matmul");
  EXPECT_EQ(mm->inputs[0]->shape, (Shape{5, 3}));
  EXPECT_EQ(mm->outputs[0]->shape, (Shape{5, 4}));
}

TEST(LinearLowering, MismatchedInnerDimsAreRefused) {
  Call c;
  c.input("input", {5, 3}).input("mat2", {4, 6});
  auto r = c.run("aten.mm.default", {}, {5, 6});
  EXPECT_TRUE(has_error(r, "inner dimensions differ (3 and 4)"));
}

}  // namespace
}  // namespace ferry
