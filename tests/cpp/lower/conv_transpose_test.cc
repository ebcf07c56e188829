// Transposed convolutions: the full `conv_transpose`, a crop for `padding`, a pad (and the
// bias as an add) for `output_padding` past the full output, dilation and groups in the kernel.
// F.unfold and F.fold: slices, pads and adds only.
#include <gtest/gtest.h>

#include <algorithm>

#include "call_fixture.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

using Ints = std::vector<int64_t>;

Attrs transposed_attrs(Ints stride, Ints padding, Ints output_padding, int64_t groups = 1,
                       Ints dilation = {1, 1}) {
  Attrs a;
  a.set("stride", std::move(stride));
  a.set("padding", std::move(padding));
  a.set("output_padding", std::move(output_padding));
  a.set("groups", groups);
  a.set("dilation", std::move(dilation));
  return a;
}

TEST(ConvTransposeLowering, PaddingCropsTheFullOutput) {
  Call c;
  c.input("input", {1, 2, 4, 4}).constant("weight", iota({2, 3, 3, 3})).constant("bias", iota({3}));
  // Full output (4 - 1) * 2 + 3 = 9; padding 1 and output_padding 1 keep [1, 9).
  auto r = c.run("torch.nn.functional.conv_transpose2d", transposed_attrs({2, 2}, {1, 1}, {1, 1}),
                 {1, 3, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"conv_transpose", "slice"}));
  const Node* t = find(r, "conv_transpose");
  EXPECT_EQ(t->outputs[0]->shape, (Shape{1, 3, 9, 9}));
  EXPECT_EQ(t->inputs[1]->shape, (Shape{3, 3, 3, 2}));  // [kh, kw, Cout, Cin]
  EXPECT_NE(t->inputs[2], nullptr);
  EXPECT_EQ(find(r, "slice")->attrs.get_ints("begin"), (Ints{0, 0, 1, 1}));
  EXPECT_EQ(find(r, "slice")->attrs.get_ints("end"), (Ints{1, 3, 9, 9}));
}

TEST(ConvTransposeLowering, OutputPaddingPastTheFullOutputPadsThenAddsTheBias) {
  Call c;
  c.input("input", {1, 2, 4, 4}).constant("weight", iota({2, 3, 3, 3})).constant("bias", iota({3}));
  auto r = c.run("torch.nn.functional.conv_transpose2d", transposed_attrs({2, 2}, {0, 0}, {1, 1}),
                 {1, 3, 10, 10});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"conv_transpose", "pad", "add"}));
  EXPECT_EQ(find(r, "conv_transpose")->inputs[2], nullptr);
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 0, 1, 0, 1}));
}

TEST(ConvTransposeLowering, DilationAndGroupsLiveInTheKernel) {
  Call c;
  // Two groups of one input channel, two outputs each; kernel 2 dilated by 3 spans 4 taps.
  c.input("input", {1, 2, 3}).constant("weight", iota({2, 2, 2}));
  Attrs a;
  a.set("stride", Ints{1});
  a.set("padding", Ints{0});
  a.set("output_padding", Ints{0});
  a.set("groups", int64_t{2});
  a.set("dilation", Ints{3});
  auto r = c.run("torch.nn.functional.conv_transpose1d", a, {1, 4, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Value* k = find(r, "conv_transpose")->inputs[1];
  ASSERT_EQ(k->shape, (Shape{4, 4, 2}));  // [k', Cout, Cin]
  const float* d = k->constant->as<float>();
  auto at = [&](int tap, int o, int i) { return d[(tap * 4 + o) * 2 + i]; };
  // PyTorch weight [Cin, Cout/groups, k]: w[i][o][j] = (i * 2 + o) * 2 + j.
  EXPECT_EQ(at(0, 0, 0), 0);
  EXPECT_EQ(at(3, 1, 0), 3);  // tap 1 at 1 * dilation
  EXPECT_EQ(at(3, 3, 1), 7);
  EXPECT_EQ(at(0, 0, 1), 0);  // off the block diagonal
  EXPECT_EQ(at(0, 2, 0), 0);
  EXPECT_EQ(at(1, 1, 0), 0);  // between the taps
}

TEST(FoldLowering, UnfoldIsOneSlicePerTap) {
  Call c;
  c.input("input", {1, 2, 5, 5});
  Attrs a;
  a.set("kernel_size", Ints{2, 3});
  a.set("dilation", Ints{1, 1});
  a.set("padding", Ints{0, 0});
  a.set("stride", Ints{1, 1});
  auto r = c.run("torch.nn.functional.unfold", a, {1, 12, 12});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const auto names = ops(r);
  EXPECT_EQ(std::count(names.begin(), names.end(), "slice"), 6);
  EXPECT_EQ(std::count(names.begin(), names.end(), "concat"), 1);
}

TEST(FoldLowering, FoldAddsOneSpreadTapAtATime) {
  Call c;
  c.input("input", {1, 8, 9});
  Attrs a;
  a.set("output_size", Ints{6, 6});
  a.set("kernel_size", Ints{2, 2});
  a.set("dilation", Ints{1, 1});
  a.set("padding", Ints{0, 0});
  a.set("stride", Ints{2, 2});
  auto r = c.run("torch.nn.functional.fold", a, {1, 2, 6, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const auto names = ops(r);
  EXPECT_EQ(std::count(names.begin(), names.end(), "add"), 3);
  EXPECT_EQ(std::count(names.begin(), names.end(), "conv_transpose"), 0);
}

TEST(FoldLowering, FoldRefusesBlocksThatDoNotFit) {
  Call c;
  c.input("input", {1, 8, 10});
  Attrs a;
  a.set("output_size", Ints{6, 6});
  a.set("kernel_size", Ints{2, 2});
  a.set("dilation", Ints{1, 1});
  a.set("padding", Ints{0, 0});
  a.set("stride", Ints{2, 2});
  auto r = c.run("torch.nn.functional.fold", a, {1, 2, 6, 6});
  EXPECT_TRUE(has_error(r, "does not fit output_size"));
}

}  // namespace
}  // namespace ferry
