#include <gtest/gtest.h>

#include <array>

#include "call_fixture.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

using Ints = std::vector<int64_t>;

Attrs conv_attrs(Attr stride, Attr padding, Attr dilation = int64_t{1}, int64_t groups = 1) {
  Attrs a;
  a.set("stride", std::move(stride));
  a.set("padding", std::move(padding));
  a.set("dilation", std::move(dilation));
  a.set("groups", groups);
  return a;
}

TEST(ConvLowering, SymmetricPaddingAtStrideOneIsSame) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3})).constant("bias", iota({4}));
  auto r = c.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, int64_t{1}), {1, 4, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"conv"});
  const Node* conv = find(r, "conv");
  EXPECT_EQ(conv->attrs.get_string("padding"), "SAME");
  EXPECT_EQ(conv->attrs.get_ints("strides"), (Ints{1, 1}));
  EXPECT_EQ(conv->attrs.get_ints("dilations"), (Ints{1, 1}));
  EXPECT_EQ(conv->attrs.get_int("groups"), 1);
  EXPECT_EQ(conv->outputs[0]->shape, (Shape{1, 4, 8, 8}));

  // PyTorch [Cout, Cin, kh, kw] -> TF [kh, kw, Cin, Cout].
  const Value* kernel = conv->inputs[1];
  EXPECT_EQ(kernel->layout, Layout::kFixed);
  ASSERT_EQ(kernel->shape, (Shape{3, 3, 3, 4}));
  const float* k = kernel->constant->as<float>();
  auto torch_index = [](int o, int i, int h, int w) { return ((o * 3 + i) * 3 + h) * 3 + w; };
  auto tf_index = [](int h, int w, int i, int o) { return ((h * 3 + w) * 3 + i) * 4 + o; };
  for (auto [o, i, h, w] :
       {std::array{0, 0, 0, 0}, std::array{3, 2, 1, 0}, std::array{1, 2, 2, 1}}) {
    EXPECT_EQ(k[tf_index(h, w, i, o)], torch_index(o, i, h, w));
  }
  EXPECT_EQ(conv->inputs[2]->layout, Layout::kFixed);
  EXPECT_EQ(conv->inputs[2]->shape, (Shape{4}));
}

TEST(ConvLowering, StridedPaddingIsAnExplicitPad) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  auto r = c.run("torch.conv2d", conv_attrs(Ints{2, 2}, Ints{1, 1}), {1, 4, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "conv"}));
  const Node* pad = find(r, "pad");
  EXPECT_EQ(pad->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(pad->attrs.get_float("value"), 0.0);
  EXPECT_EQ(pad->attrs.get_string("mode"), "CONSTANT");
  EXPECT_EQ(pad->outputs[0]->shape, (Shape{1, 3, 10, 10}));
  const Node* conv = find(r, "conv");
  EXPECT_EQ(conv->attrs.get_string("padding"), "VALID");
  EXPECT_EQ(conv->attrs.get_ints("strides"), (Ints{2, 2}));
  EXPECT_EQ(conv->inputs[2], nullptr);
}

TEST(ConvLowering, PaddingSameDoesNotFitEvenKernels) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 2, 2}));
  auto r = c.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, int64_t{1}), {1, 4, 9, 9});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "conv"}));
  EXPECT_EQ(find(r, "conv")->attrs.get_string("padding"), "VALID");
}

TEST(ConvLowering, PerDimPaddingAndDilation) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  // Height: dilation 2 and pad 2 is SAME-like, width pad 0 is not: explicit pad.
  auto r = c.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, Ints{2, 0}, Ints{2, 2}),
                 {1, 4, 8, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 2, 2, 0, 0}));
  EXPECT_EQ(find(r, "conv")->attrs.get_ints("dilations"), (Ints{2, 2}));

  Call d;
  d.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  r = d.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, int64_t{2}, int64_t{2}),
            {1, 4, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"conv"});
  EXPECT_EQ(find(r, "conv")->attrs.get_string("padding"), "SAME");
}

TEST(ConvLowering, StringPadding) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  auto r = c.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, std::string("valid")),
                 {1, 4, 6, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"conv"});
  EXPECT_EQ(find(r, "conv")->attrs.get_string("padding"), "VALID");

  // An even kernel pads one more at the end, in PyTorch as in TF's SAME.
  Call d;
  d.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 4, 4}));
  r = d.run("aten.conv2d.padding", conv_attrs(Ints{1, 1}, std::string("same")), {1, 4, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"conv"});
  EXPECT_EQ(find(r, "conv")->attrs.get_string("padding"), "SAME");

  Call e;
  e.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  r = e.run("torch.nn.functional.conv2d", conv_attrs(int64_t{2}, std::string("same")),
            {1, 4, 8, 8});
  EXPECT_TRUE(has_error(r, "padding='same' needs stride 1"));
}

TEST(ConvLowering, DepthwiseKernelOrder) {
  Call c;
  c.input("input", {1, 4, 8, 8}).constant("weight", iota({8, 1, 3, 3}));
  auto r = c.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, int64_t{1}, int64_t{1}, 4),
                 {1, 8, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"depthwise_conv"});
  const Node* dw = find(r, "depthwise_conv");
  EXPECT_FALSE(dw->attrs.has("groups"));
  EXPECT_EQ(dw->attrs.get_string("padding"), "SAME");
  const Value* kernel = dw->inputs[1];
  ASSERT_EQ(kernel->shape, (Shape{3, 3, 4, 2}));
  const float* k = kernel->constant->as<float>();
  // Output channel o = c*M + m of PyTorch [o, 0, h, w] lands at [h, w, c, m].
  for (auto [c_, m, h, w] :
       {std::array{0, 0, 0, 0}, std::array{3, 1, 2, 1}, std::array{1, 0, 1, 2}}) {
    const int o = c_ * 2 + m;
    EXPECT_EQ(k[((h * 3 + w) * 4 + c_) * 2 + m], (o * 3 + h) * 3 + w);
  }
}

TEST(ConvLowering, GroupedConvKeepsGroups) {
  Call c;
  c.input("input", {1, 4, 8, 8}).constant("weight", iota({6, 2, 3, 3}));
  auto r = c.run("aten.convolution.default",
                 [] {
                   Attrs a = conv_attrs(Ints{1, 1}, Ints{0, 0}, Ints{1, 1}, 2);
                   a.set("transposed", false);
                   a.set("output_padding", Ints{0, 0});
                   return a;
                 }(),
                 {1, 6, 6, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* conv = find(r, "conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->attrs.get_int("groups"), 2);
  EXPECT_EQ(conv->attrs.get_string("padding"), "VALID");
  EXPECT_EQ(conv->inputs[1]->shape, (Shape{3, 3, 2, 6}));
}

TEST(ConvLowering, UnbatchedConv1dAndConv3d) {
  Call c;
  c.input("input", {3, 10}).constant("weight", iota({5, 3, 3}));
  auto r = c.run("torch.nn.functional.conv1d", conv_attrs(int64_t{1}, int64_t{0}), {5, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"reshape", "conv", "reshape"}));
  EXPECT_EQ(find(r, "conv")->outputs[0]->shape, (Shape{1, 5, 8}));
  EXPECT_EQ(find(r, "conv")->inputs[1]->shape, (Shape{3, 3, 5}));
  EXPECT_EQ(r.graph->outputs[0]->shape, (Shape{5, 8}));

  Call d;
  d.input("input", {2, 3, 6, 6, 6}).constant("weight", iota({4, 3, 1, 2, 3}));
  r = d.run("torch.conv3d", conv_attrs(int64_t{1}, int64_t{0}), {2, 4, 6, 5, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "conv")->inputs[1]->shape, (Shape{1, 2, 3, 3, 4}));
}

TEST(ConvLowering, RefusesWhatItCannotExpress) {
  Call c;
  c.input("input", {1, 3, 8, 8}).constant("weight", iota({3, 4, 3, 3}));
  Attrs a = conv_attrs(Ints{1, 1}, Ints{0, 0}, Ints{1, 1});
  a.set("transposed", true);
  a.set("output_padding", Ints{0, 0});
  auto r = c.run("aten.convolution.default", a, {1, 4, 10, 10});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;  // transposed: conv_transpose
  EXPECT_EQ(ops(r), (std::vector<std::string>{"conv_transpose"}));

  Call t;
  t.input("input", {1, 3, 8, 8}).input("weight", {3, 4, 3, 3});
  r = t.run("aten.convolution.default", a, {1, 4, 10, 10});
  EXPECT_TRUE(has_error(r, "conv_transpose2d: only a constant float32 weight"));

  Call d;
  d.input("input", {1, 3, 8, 8}).input("weight", {4, 3, 3, 3});
  r = d.run("torch.nn.functional.conv2d", conv_attrs(int64_t{1}, int64_t{0}), {1, 4, 6, 6});
  EXPECT_TRUE(has_error(r, "weight is computed at run time"));

  Call e;
  e.input("input", {1, 3, 8, 8}).constant("weight", iota({4, 3, 3, 3}));
  Attrs b = conv_attrs(int64_t{1}, int64_t{1});
  b.set("padding_mode", std::string("reflect"));
  r = e.run("torch.nn.functional.conv2d", b, {1, 4, 8, 8});
  EXPECT_TRUE(has_error(r, "conv2d with padding_mode='reflect' is not supported"));
}

}  // namespace
}  // namespace ferry
