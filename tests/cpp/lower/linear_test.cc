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

TEST(LinearLowering, AddmmWithConstantWeightIsDense) {
  // GPT-2's Conv1D: torch.addmm(bias, x.view(-1, nx), weight), weight already [in, out].
  Call c;
  c.constant("input", iota({4})).input("mat1", {6, 3}).constant("mat2", iota({3, 4}));
  auto r = c.run("torch.addmm", {}, {6, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"dense"});
  const Node* dense = find(r, "dense");
  EXPECT_EQ(dense->inputs[1]->layout, Layout::kFixed);
  EXPECT_EQ(dense->inputs[1]->shape, (Shape{3, 4}));
  EXPECT_EQ(dense->inputs[1]->constant->as<float>()[1 * 4 + 2], 6.0f);
  EXPECT_EQ(dense->inputs[2]->shape, Shape{4});

  // beta and alpha fold into the bias and kernel.
  Attrs attrs;
  attrs.set("beta", 0.5);
  attrs.set("alpha", 2.0);
  Call d;
  d.constant("input", iota({1, 4})).input("mat1", {6, 3}).constant("mat2", iota({3, 4}));
  r = d.run("aten.addmm.default", attrs, {6, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"dense"});
  dense = find(r, "dense");
  EXPECT_EQ(dense->inputs[1]->constant->as<float>()[1 * 4 + 2], 12.0f);
  EXPECT_EQ(dense->inputs[2]->constant->as<float>()[3], 1.5f);
}

TEST(LinearLowering, AddmmWithFullInputAddsAfterDense) {
  Attrs attrs;
  attrs.set("beta", 3.0);
  Call c;
  c.input("input", {6, 4}).input("mat1", {6, 3}).constant("mat2", iota({3, 4}));
  auto r = c.run("torch.Tensor.addmm", attrs, {6, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"dense", "mul", "add"}));
  EXPECT_EQ(find(r, "dense")->inputs.size(), 3u);
  EXPECT_EQ(find(r, "dense")->inputs[2], nullptr);
}

TEST(LinearLowering, AddmmWithComputedOperandsIsMatmul) {
  Attrs attrs;
  attrs.set("beta", 0.0);
  attrs.set("alpha", 0.5);
  Call c;
  c.input("input", {4}).input("mat1", {6, 3}).input("mat2", {3, 4});
  auto r = c.run("torch.addmm", attrs, {6, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  // beta = 0 drops input entirely, as PyTorch does (its NaNs do not propagate).
  EXPECT_EQ(ops(r), (std::vector<std::string>{"matmul", "mul"}));

  Call d;
  d.input("input", {4}).input("mat1", {6, 3}).input("mat2", {3, 4});
  r = d.run("torch.addmm", {}, {6, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"matmul", "add"}));
}

TEST(LinearLowering, BaddbmmIsBatchedMatmul) {
  Attrs attrs;
  attrs.set("beta", 2.0);
  attrs.set("alpha", 0.5);
  Call c;
  c.input("input", {2, 5, 6}).input("batch1", {2, 5, 3}).input("batch2", {2, 3, 6});
  auto r = c.run("torch.baddbmm", attrs, {2, 5, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"matmul", "mul", "mul", "add"}));
  EXPECT_EQ(find(r, "matmul")->outputs[0]->shape, (Shape{2, 5, 6}));

  Call d;
  d.input("input", {2, 5, 6}).input("batch1", {5, 3}).input("batch2", {2, 3, 6});
  r = d.run("aten.baddbmm.default", {}, {2, 5, 6});
  EXPECT_TRUE(has_error(r, "expects 3-D matrices, got 2-D and 3-D"));
}

}  // namespace
}  // namespace ferry
