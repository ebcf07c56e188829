#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "call_fixture.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

using Ints = std::vector<int64_t>;

Attrs pool_attrs(Attr kernel, Attr stride, Attr padding, bool ceil_mode = false) {
  Attrs a;
  a.set("kernel_size", std::move(kernel));
  a.set("stride", std::move(stride));
  a.set("padding", std::move(padding));
  a.set("ceil_mode", ceil_mode);
  return a;
}

TEST(PoolLowering, MaxPoolStrideDefaultsToKernel) {
  Call c;
  c.input("input", {1, 3, 8, 8});
  Attrs a = pool_attrs(int64_t{2}, std::monostate{}, int64_t{0});
  a.set("dilation", int64_t{1});
  a.set("return_indices", false);
  auto r = c.run("torch.nn.functional.max_pool2d", a, {1, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"max_pool"});
  const Node* mp = find(r, "max_pool");
  EXPECT_EQ(mp->attrs.get_ints("pool_size"), (Ints{2, 2}));
  EXPECT_EQ(mp->attrs.get_ints("strides"), (Ints{2, 2}));
  EXPECT_EQ(mp->attrs.get_string("padding"), "VALID");

  // aten spells the default stride as an empty list.
  Call d;
  d.input("input", {1, 3, 8, 8});
  r = d.run("aten.max_pool2d.default", pool_attrs(Ints{2, 2}, Ints{}, Ints{0, 0}), {1, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "max_pool")->attrs.get_ints("strides"), (Ints{2, 2}));
}

TEST(PoolLowering, MaxPoolPaddingIsMinusInfinity) {
  Call c;
  c.input("input", {1, 3, 112, 112});
  auto r =
      c.run("torch.max_pool2d", pool_attrs(int64_t{3}, int64_t{2}, int64_t{1}), {1, 3, 56, 56});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "max_pool"}));
  const Node* pad = find(r, "pad");
  EXPECT_EQ(pad->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_TRUE(std::isinf(pad->attrs.get_float("value")));
  EXPECT_LT(pad->attrs.get_float("value"), 0);
}

TEST(PoolLowering, MaxPoolCeilModePadsTheEnd) {
  Call c;
  c.input("input", {1, 3, 5, 6});
  auto r = c.run("torch.nn.functional.max_pool2d",
                 pool_attrs(int64_t{2}, int64_t{2}, int64_t{0}, true), {1, 3, 3, 3});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  // Height 5 needs a last, partial window; width 6 does not.
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(find(r, "max_pool")->outputs[0]->shape, (Shape{1, 3, 3, 3}));

  // Ceil would add a window starting in the right padding; PyTorch drops it.
  Call d;
  d.input("input", {1, 2, 4});
  r = d.run("torch.nn.functional.max_pool1d", pool_attrs(int64_t{2}, int64_t{3}, int64_t{1}, true),
            {1, 2, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 1, 1}));
}

TEST(PoolLowering, MaxPoolRefusals) {
  Call c;
  c.input("input", {1, 3, 8, 8});
  Attrs a = pool_attrs(int64_t{2}, int64_t{2}, int64_t{0});
  a.set("dilation", int64_t{2});
  auto r = c.run("torch.nn.functional.max_pool2d", a, {1, 3, 3, 3});
  EXPECT_TRUE(has_error(r, "max_pool2d with dilation > 1 is not supported"));

  Call d;
  d.input("input", {1, 3, 8, 8});
  a = pool_attrs(int64_t{2}, int64_t{2}, int64_t{0});
  a.set("return_indices", true);
  // The fixture's outputs are the graph's, so the indices count as read.
  r = d.run("torch.nn.functional.max_pool2d_with_indices", a, {1, 3, 4, 4}, 2);
  EXPECT_TRUE(has_error(r, "return_indices=True: the indices are used"));
}

TEST(PoolLowering, UnbatchedMaxPool1d) {
  Call c;
  c.input("input", {3, 10});
  auto r = c.run("torch.nn.functional.max_pool1d",
                 pool_attrs(int64_t{2}, std::monostate{}, int64_t{0}), {3, 5});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"reshape", "max_pool", "reshape"}));
  EXPECT_EQ(find(r, "max_pool")->outputs[0]->shape, (Shape{1, 3, 5}));
}

TEST(PoolLowering, AvgPoolCountingPadding) {
  Call c;
  c.input("input", {1, 3, 4, 4});
  auto r = c.run("torch.nn.functional.avg_pool2d", pool_attrs(int64_t{3}, int64_t{1}, int64_t{1}),
                 {1, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "avg_pool"}));
  EXPECT_EQ(find(r, "pad")->attrs.get_float("value"), 0.0);
  EXPECT_EQ(find(r, "avg_pool")->attrs.get_string("padding"), "VALID");
}

TEST(PoolLowering, AvgPoolExcludingPaddingRescales) {
  Call c;
  c.input("input", {1, 3, 4, 4});
  Attrs a = pool_attrs(int64_t{3}, int64_t{1}, int64_t{1});
  a.set("count_include_pad", false);
  auto r = c.run("torch.nn.functional.avg_pool2d", a, {1, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "avg_pool", "mul"}));
  const Value* scale = find(r, "mul")->inputs[1];
  ASSERT_EQ(scale->shape, (Shape{1, 1, 4, 4}));
  EXPECT_EQ(scale->layout, Layout::kPyTorch);
  const float* s = scale->constant->as<float>();
  EXPECT_FLOAT_EQ(s[0], 9.0f / 4);      // corner: 2x2 real elements
  EXPECT_FLOAT_EQ(s[1], 9.0f / 6);      // edge: 2x3
  EXPECT_FLOAT_EQ(s[1 * 4 + 2], 1.0f);  // interior
  EXPECT_FLOAT_EQ(s[3 * 4 + 3], 9.0f / 4);
}

TEST(PoolLowering, AvgPoolDivisorOverride) {
  Call c;
  c.input("input", {1, 3, 4, 4});
  Attrs a = pool_attrs(int64_t{2}, std::monostate{}, int64_t{0});
  a.set("divisor_override", int64_t{3});
  auto r = c.run("aten.avg_pool2d.default", a, {1, 3, 2, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"avg_pool", "mul"}));
  const Value* scale = find(r, "mul")->inputs[1];
  EXPECT_EQ(scale->shape, Shape{});
  EXPECT_FLOAT_EQ(scale->constant->as<float>()[0], 4.0f / 3);
}

TEST(PoolLowering, AvgPoolCeilMode) {
  Call c;
  c.input("input", {1, 3, 4, 4});
  auto r = c.run("torch.nn.functional.avg_pool2d",
                 pool_attrs(int64_t{2}, int64_t{2}, int64_t{0}, true), {1, 3, 2, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"avg_pool"});

  // A partial last window: zero-padded at the end, then its sum divided by the elements it
  // really covers (1 of 2 rows), as PyTorch does.
  Call d;
  d.input("input", {1, 3, 5, 4});
  r = d.run("torch.nn.functional.avg_pool2d", pool_attrs(int64_t{2}, int64_t{2}, int64_t{0}, true),
            {1, 3, 3, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "avg_pool", "mul"}));
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 0, 1, 0, 0}));
  const Value* scale = find(r, "mul")->inputs[1];
  ASSERT_EQ(scale->shape, (Shape{1, 1, 3, 2}));
  const float* s = scale->constant->as<float>();
  EXPECT_FLOAT_EQ(s[0], 1.0f);
  EXPECT_FLOAT_EQ(s[2 * 2 + 1], 2.0f);
}

// With ceil_mode and padding, count_include_pad counts the padding but not what lies past
// it; without it only the real elements count.
TEST(PoolLowering, AvgPoolCeilModeDivisors) {
  Call c;
  c.input("input", {1, 1, 6});
  auto r = c.run("torch.nn.functional.avg_pool1d", pool_attrs(Ints{3}, Ints{2}, Ints{1}, true),
                 {1, 1, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  // Windows over the padded input [-1, 7): [-1, 2), [1, 4), [3, 6), [5, 8) clipped to [5, 7).
  const float* s = find(r, "mul")->inputs[1]->constant->as<float>();
  EXPECT_FLOAT_EQ(s[0], 1.0f);
  EXPECT_FLOAT_EQ(s[3], 3.0f / 2);

  Call d;
  d.input("input", {1, 1, 6});
  Attrs a = pool_attrs(Ints{3}, Ints{2}, Ints{1}, true);
  a.set("count_include_pad", false);
  r = d.run("torch.nn.functional.avg_pool1d", a, {1, 1, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  s = find(r, "mul")->inputs[1]->constant->as<float>();
  EXPECT_FLOAT_EQ(s[0], 3.0f / 2);  // [-1, 2): 2 real elements
  EXPECT_FLOAT_EQ(s[1], 1.0f);
  EXPECT_FLOAT_EQ(s[3], 3.0f / 1);  // [5, 8): 1 real element
}

TEST(PoolLowering, AdaptiveAvgPool) {
  Call c;
  c.input("input", {2, 3, 7, 7});
  Attrs a;
  a.set("output_size", Ints{1, 1});
  auto r = c.run("torch.nn.functional.adaptive_avg_pool2d", a, {2, 3, 1, 1});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"mean"});
  EXPECT_EQ(find(r, "mean")->attrs.get_ints("axes"), (Ints{2, 3}));
  EXPECT_TRUE(find(r, "mean")->attrs.get_bool("keepdims"));

  Call d;
  d.input("input", {2, 3, 8, 6});
  a.set("output_size", Ints{4, 2});
  r = d.run("aten._adaptive_avg_pool2d.default", a, {2, 3, 4, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* ap = find(r, "avg_pool");
  ASSERT_NE(ap, nullptr);
  EXPECT_EQ(ap->attrs.get_ints("pool_size"), (Ints{2, 3}));
  EXPECT_EQ(ap->attrs.get_ints("strides"), (Ints{2, 3}));

  Call e;
  e.input("input", {2, 3, 7, 7});
  a.set("output_size", Ints{3, 3});
  // 7 -> 3 has windows [0, 3), [2, 5), [4, 7): one size at a regular step, a pool per axis.
  r = e.run("torch.nn.functional.adaptive_avg_pool2d", a, {2, 3, 3, 3});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"avg_pool", "avg_pool"}));
  EXPECT_EQ(find(r, "avg_pool")->attrs.get_ints("pool_size"), (Ints{3, 1}));
  EXPECT_EQ(find(r, "avg_pool")->attrs.get_ints("strides"), (Ints{2, 1}));

  // 7 -> 4: [0, 2), [1, 4), [3, 6), [5, 7) differ in size: a slice and mean per output.
  Call f;
  f.input("input", {2, 3, 7, 7});
  a.set("output_size", Ints{4, 4});
  r = f.run("torch.nn.functional.adaptive_avg_pool2d", a, {2, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const auto names = ops(r);
  EXPECT_EQ(std::count(names.begin(), names.end(), "mean"), 8);
  EXPECT_EQ(std::count(names.begin(), names.end(), "concat"), 2);
}

TEST(PoolLowering, AdaptiveMaxPool) {
  Call c;
  c.input("input", {2, 3, 9});
  Attrs a;
  a.set("output_size", int64_t{1});
  a.set("return_indices", false);
  auto r = c.run("torch.nn.functional.adaptive_max_pool1d", a, {2, 3, 1});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"max"});
  EXPECT_EQ(find(r, "max")->attrs.get_ints("axes"), (Ints{2}));

  Call d;
  d.input("input", {3, 8, 8});
  a.set("output_size", Ints{2, 2});
  r = d.run("torch.nn.functional.adaptive_max_pool2d", a, {3, 2, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"reshape", "max_pool", "reshape"}));
  EXPECT_EQ(find(r, "max_pool")->attrs.get_ints("pool_size"), (Ints{4, 4}));
}

}  // namespace
}  // namespace ferry
