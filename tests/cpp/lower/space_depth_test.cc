// Rules of lower/space_depth.cc: TensorFlow's space/depth ops as one op each, PyTorch's
// pixel_(un)shuffle with the channel interleave, and the whole pipeline folding that
// interleave into adjacent convolutions.
#include <gtest/gtest.h>

#include <algorithm>

#include "layout/solver.h"
#include "lowering_fixture.h"
#include "passes/pipeline.h"

namespace ferry {
namespace {

using namespace lower_test;

class SpaceDepthLowering : public LoweringTest {
 protected:
  // One call of `op` on x with the block size under `attr`.
  void one(const std::string& op, const std::string& attr, int64_t block, Shape in, Shape out) {
    Value* x = input(DType::kFloat32, std::move(in));
    call(op, {{"input", x}}, attrs({{attr, block}}), DType::kFloat32, std::move(out));
  }

  const Node* only(const std::string& op) const {
    const Node* found = nullptr;
    for (const Node* n : result_.graph->nodes()) {
      if (n->op != op) continue;
      EXPECT_EQ(found, nullptr) << "more than one " << op;
      found = n;
    }
    return found;
  }
};

TEST_F(SpaceDepthLowering, SpaceToDepthModuleIsOneOp) {
  one("ferry.addons.torch.space_to_depth.SpaceToDepth", "block_size", 2, {2, 3, 8, 6},
      {2, 12, 4, 3});
  EXPECT_EQ(lower_ops(), (Ops{"space_to_depth"}));
  EXPECT_EQ(node(0)->attrs.get_int("block_size"), 2);
  EXPECT_EQ(output()->shape, (Shape{2, 12, 4, 3}));
}

TEST_F(SpaceDepthLowering, DepthToSpaceModuleIsOneOp) {
  one("ferry.addons.torch.depth_to_space.DepthToSpace", "block_size", 3, {1, 18, 2, 4},
      {1, 2, 6, 12});
  EXPECT_EQ(lower_ops(), (Ops{"depth_to_space"}));
  EXPECT_EQ(node(0)->attrs.get_int("block_size"), 3);
}

// pixel_unshuffle's channel c * r*r + k is space_to_depth's k * C + c: channels viewed as
// [r*r, C] and swapped, on the channels-last tensor.
TEST_F(SpaceDepthLowering, PixelUnshuffleIsSpaceToDepthThenInterleave) {
  one("torch.nn.functional.pixel_unshuffle", "downscale_factor", 2, {2, 3, 6, 10}, {2, 12, 3, 5});
  EXPECT_EQ(lower_ops(),
            (Ops{"space_to_depth", "transpose", "reshape", "transpose", "reshape", "transpose"}));
  EXPECT_EQ(node(1)->attrs.get_ints("perm"), (Ints{0, 2, 3, 1}));
  EXPECT_EQ(node(2)->outputs[0]->shape, (Shape{2 * 3 * 5, 4, 3}));
  EXPECT_EQ(node(3)->attrs.get_ints("perm"), (Ints{0, 2, 1}));
  EXPECT_EQ(node(4)->outputs[0]->shape, (Shape{2, 3, 5, 12}));
  EXPECT_EQ(node(5)->attrs.get_ints("perm"), (Ints{0, 3, 1, 2}));
  EXPECT_EQ(output()->shape, (Shape{2, 12, 3, 5}));
}

// pixel_shuffle reads channel c * r*r + k where depth_to_space reads k * C + c: channels
// viewed as [C, r*r] and swapped first.
TEST_F(SpaceDepthLowering, PixelShuffleIsInterleaveThenDepthToSpace) {
  one("torch.nn.functional.pixel_shuffle", "upscale_factor", 2, {1, 12, 5, 3}, {1, 3, 10, 6});
  EXPECT_EQ(lower_ops(),
            (Ops{"transpose", "reshape", "transpose", "reshape", "transpose", "depth_to_space"}));
  EXPECT_EQ(node(1)->outputs[0]->shape, (Shape{15, 3, 4}));
  EXPECT_EQ(node(5)->attrs.get_int("block_size"), 2);
  EXPECT_EQ(output()->shape, (Shape{1, 3, 10, 6}));
}

TEST_F(SpaceDepthLowering, ModulesAndAtenOpsUseTheirFactorAttribute) {
  one("torch.nn.modules.pixelshuffle.PixelShuffle", "upscale_factor", 2, {1, 8, 2, 2},
      {1, 2, 4, 4});
  one("torch.nn.modules.pixelshuffle.PixelUnshuffle", "downscale_factor", 2, {1, 2, 4, 4},
      {1, 8, 2, 2});
  Value* x = input(DType::kFloat32, {1, 8, 2, 2});
  call("aten.pixel_shuffle.default", {{"self", x}}, attrs({{"upscale_factor", int64_t{2}}}),
       DType::kFloat32, {1, 2, 4, 4});
  Ops ops = lower_ops();
  ASSERT_TRUE(errors_.empty()) << errors_[0];
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "depth_to_space"), 2);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "space_to_depth"), 1);
}

TEST_F(SpaceDepthLowering, OneChannelNeedsNoInterleave) {
  one("torch.nn.functional.pixel_unshuffle", "downscale_factor", 3, {1, 1, 6, 6}, {1, 9, 2, 2});
  EXPECT_EQ(lower_ops(), (Ops{"space_to_depth"}));
}

TEST_F(SpaceDepthLowering, FactorOneMovesNothing) {
  one("torch.nn.functional.pixel_shuffle", "upscale_factor", 1, {1, 4, 3, 3}, {1, 4, 3, 3});
  EXPECT_EQ(lower_ops(), (Ops{"identity"}));
}

TEST_F(SpaceDepthLowering, LeadingDimsAreOneBatch) {
  one("torch.nn.functional.pixel_unshuffle", "downscale_factor", 2, {2, 5, 1, 4, 4},
      {2, 5, 4, 2, 2});
  Ops ops = lower_ops();
  EXPECT_EQ(ops.front(), "reshape");
  EXPECT_EQ(node(0)->outputs[0]->shape, (Shape{10, 1, 4, 4}));
  EXPECT_EQ(ops[1], "space_to_depth");  // one channel: no interleave
  EXPECT_EQ(ops.back(), "reshape");
  EXPECT_EQ(output()->shape, (Shape{2, 5, 4, 2, 2}));

  one("ferry.addons.torch.space_to_depth.SpaceToDepth", "block_size", 2, {3, 4, 4}, {12, 2, 2});
  EXPECT_EQ(lower_ops(),
            (Ops{"reshape", "space_to_depth", "reshape", "reshape", "space_to_depth", "reshape"}));
}

TEST_F(SpaceDepthLowering, SizesThatDoNotDivideAreRefused) {
  one("torch.nn.functional.pixel_shuffle", "upscale_factor", 2, {1, 6, 2, 2}, {1, 1, 4, 4});
  lower_ops();
  expect_error("6 channels are not a multiple of 4");
}

// PixelUnshuffle(4) -> Conv2d(48, 48, 1) -> PixelShuffle(4), nobuco's example, with
// TensorFlow-order input and output: both interleaves go into the convolution's weights,
// which leaves three ops and no transpose.
TEST_F(SpaceDepthLowering, InterleavesFoldIntoTheConvolution) {
  Value* x = input(DType::kFloat32, {1, 3, 16, 16});
  Node* unshuffle = call("torch.nn.modules.pixelshuffle.PixelUnshuffle", {{"input", x}},
                         attrs({{"downscale_factor", int64_t{4}}}), DType::kFloat32, {1, 48, 4, 4});
  auto weight = std::make_shared<TensorData>(DType::kFloat32, Shape{48, 48, 1, 1});
  auto bias = std::make_shared<TensorData>(DType::kFloat32, Shape{48});
  for (int64_t i = 0; i < weight->size(); ++i) weight->mutable_as<float>()[i] = float(i);
  for (int64_t i = 0; i < bias->size(); ++i) bias->mutable_as<float>()[i] = float(i);
  Node* conv = call("torch.nn.functional.conv2d",
                    {{"input", unshuffle->outputs[0]},
                     {"weight", torch_.add_constant(weight, "weight")},
                     {"bias", torch_.add_constant(bias, "bias")}},
                    attrs({{"stride", int64_t{1}},
                           {"padding", int64_t{0}},
                           {"dilation", int64_t{1}},
                           {"groups", int64_t{1}}}),
                    DType::kFloat32, {1, 48, 4, 4});
  call("torch.nn.modules.pixelshuffle.PixelShuffle", {{"input", conv->outputs[0]}},
       attrs({{"upscale_factor", int64_t{4}}}), DType::kFloat32, {1, 3, 16, 16});
  // Only the model's output is one.
  torch_.outputs = {torch_.outputs.back()};
  torch_.output_names = {"y"};
  lower_ops();
  ASSERT_TRUE(errors_.empty()) << errors_[0];
  Graph& g = *result_.graph;
  LayoutOptions options{{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}};
  materialize_layouts(g, assign_layouts_optimal(g, options));
  cleanup(g);
  std::vector<std::string> ops;
  for (const Node* n : g.nodes()) ops.push_back(n->op);
  EXPECT_EQ(ops, (Ops{"space_to_depth", "conv", "depth_to_space"}));
  EXPECT_EQ(transpose_stats(g).count, 0);

  // The kernel [1, 1, in, out] reads input channel k*3 + c (space_to_depth's order) with the
  // weights PyTorch gives channel c*16 + k, and writes output channel k*3 + c (what
  // depth_to_space reads) with those of PyTorch's c*16 + k.
  const Node* folded = only("conv");
  const TensorData& kernel = *folded->inputs[1]->constant;
  ASSERT_EQ(kernel.shape(), (Shape{1, 1, 48, 48}));
  auto pytorch = [](int64_t k, int64_t c) { return c * 16 + k; };
  for (int64_t in : {0, 5, 17, 47}) {
    for (int64_t out : {0, 1, 30, 46}) {
      const int64_t torch_in = pytorch(in / 3, in % 3), torch_out = pytorch(out / 3, out % 3);
      EXPECT_EQ(kernel.as<float>()[in * 48 + out], float(torch_out * 48 + torch_in));
    }
    EXPECT_EQ(folded->inputs[2]->constant->as<float>()[in], float(pytorch(in / 3, in % 3)));
  }
}

}  // namespace
}  // namespace ferry
