#include <gtest/gtest.h>

#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using Ints = std::vector<int64_t>;
using Floats = std::vector<double>;

// One PyTorch-level call with a single tensor argument, lowered on its own.
LowerResult run(const std::string& op, const std::string& arg, Shape in, Attrs attrs, Shape out,
                DType dtype = DType::kFloat32) {
  Graph g;
  Value* x = g.add_value(dtype, std::move(in), arg);
  g.inputs.push_back(x);
  g.input_names.push_back(arg);
  Node* n = g.add_node(op, {x}, std::move(attrs));
  n->input_args = {arg};
  Value* y = g.add_value(dtype, std::move(out), "y");
  g.add_output_to(n, y);
  g.outputs.push_back(y);
  g.output_names.push_back("y");
  Registry registry;
  register_all(registry);
  return lower(g, registry);
}

Attrs interpolate(Attr size, Attr scale, const std::string& mode, Attr align = std::monostate{},
                  Attr recompute = std::monostate{}) {
  Attrs a;
  a.set("size", std::move(size));
  a.set("scale_factor", std::move(scale));
  a.set("mode", mode);
  a.set("align_corners", std::move(align));
  a.set("recompute_scale_factor", std::move(recompute));
  a.set("antialias", false);
  return a;
}

std::vector<std::string> ops(const LowerResult& r) {
  std::vector<std::string> out;
  for (const Node* n : r.graph->nodes()) out.push_back(n->op);
  return out;
}

const Node* resize_node(const LowerResult& r) {
  for (const Node* n : r.graph->nodes()) {
    if (n->op == "resize") return n;
  }
  return nullptr;
}

::testing::AssertionResult has_error(const LowerResult& r, const std::string& text) {
  if (r.errors.size() == 1 && r.errors[0].message.find(text) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure() << r.errors.size() << " errors";
  for (const auto& e : r.errors) failure << "; " << e.message;
  return failure;
}

constexpr const char* kInterpolate = "torch.nn.functional.interpolate";

TEST(ResizeLowering, BilinearToAGivenSize) {
  auto r = run(kInterpolate, "input", {1, 3, 8, 8}, interpolate(Ints{5, 12}, {}, "bilinear", false),
               {1, 3, 5, 12});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"resize"});
  const Node* n = resize_node(r);
  EXPECT_EQ(n->attrs.get_ints("size"), (Ints{5, 12}));
  EXPECT_EQ(n->attrs.get_string("method"), "bilinear");
  EXPECT_EQ(n->attrs.get_string("coordinate"), "half_pixel");
  EXPECT_FALSE(n->attrs.has("scale"));
  EXPECT_EQ(n->outputs[0]->shape, (Shape{1, 3, 5, 12}));
}

TEST(ResizeLowering, ModesNameTheirSamplingRule) {
  auto r = run(kInterpolate, "input", {1, 2, 4, 4}, interpolate(Ints{6, 6}, {}, "nearest"),
               {1, 2, 6, 6});
  EXPECT_EQ(resize_node(r)->attrs.get_string("method"), "nearest");
  EXPECT_EQ(resize_node(r)->attrs.get_string("coordinate"), "asymmetric");
  r = run(kInterpolate, "input", {1, 2, 4, 4}, interpolate(Ints{6, 6}, {}, "nearest-exact"),
          {1, 2, 6, 6});
  EXPECT_EQ(resize_node(r)->attrs.get_string("coordinate"), "half_pixel");
  r = run(kInterpolate, "input", {1, 2, 4, 4}, interpolate(Ints{6, 6}, {}, "bicubic", true),
          {1, 2, 6, 6});
  EXPECT_EQ(resize_node(r)->attrs.get_string("method"), "bicubic");
  EXPECT_EQ(resize_node(r)->attrs.get_string("coordinate"), "align_corners");
}

TEST(ResizeLowering, ScaleOnlyWhereItMovesASample) {
  // 7 * 1.5 = 10.5 -> 10 outputs: 1/1.5 differs from 7/10, and PyTorch uses 1/1.5.
  auto r = run(kInterpolate, "input", {1, 2, 7, 8}, interpolate({}, 1.5, "bilinear", false),
               {1, 2, 10, 12});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(resize_node(r)->attrs.get_floats("scale"), (Floats{1.5, 1.5}));
  // recompute_scale_factor=True: only the output size comes from the scale.
  r = run(kInterpolate, "input", {1, 2, 7, 8}, interpolate({}, 1.5, "bilinear", false, true),
          {1, 2, 10, 12});
  EXPECT_FALSE(resize_node(r)->attrs.has("scale"));
  // 8 * 1.5 = 12 exactly: the scale is in/out's anyway.
  r = run(kInterpolate, "input", {1, 2, 8, 8}, interpolate({}, 1.5, "bilinear", false),
          {1, 2, 12, 12});
  EXPECT_FALSE(resize_node(r)->attrs.has("scale"));
  // Nearest at double size halves the index whatever the scale (5 * 2.05 -> 10).
  r = run(kInterpolate, "input", {1, 2, 5, 5}, interpolate({}, 2.05, "nearest"), {1, 2, 10, 10});
  EXPECT_FALSE(resize_node(r)->attrs.has("scale"));
  // align_corners ignores the scale.
  r = run(kInterpolate, "input", {1, 2, 7, 8}, interpolate({}, 1.5, "bilinear", true),
          {1, 2, 10, 12});
  EXPECT_FALSE(resize_node(r)->attrs.has("scale"));
}

TEST(ResizeLowering, AtenSpellings) {
  Attrs a;
  a.set("output_size", Ints{10, 12});
  a.set("align_corners", false);
  a.set("scales_h", 1.5);
  a.set("scales_w", std::monostate{});
  auto r = run("aten.upsample_bilinear2d.default", "self", {1, 2, 7, 8}, a, {1, 2, 10, 12});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  // An entry <= 0 means in/out, as in ATen.
  EXPECT_EQ(resize_node(r)->attrs.get_floats("scale"), (Floats{1.5, 0.0}));

  Attrs v;
  v.set("output_size", std::monostate{});
  v.set("scale_factors", Floats{1.7, 1.7});
  r = run("aten._upsample_nearest_exact2d.vec", "input", {1, 2, 5, 5}, v, {1, 2, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(resize_node(r)->attrs.get_string("coordinate"), "half_pixel");
  EXPECT_EQ(resize_node(r)->attrs.get_floats("scale"), (Floats{1.7, 1.7}));
  // 7 -> 10 at 1.5: floor((dst + 0.5) / 1.5) and floor((dst + 0.5) * 0.7) agree everywhere.
  v.set("scale_factors", Floats{1.5, 1.5});
  r = run("aten._upsample_nearest_exact2d.vec", "input", {1, 2, 7, 7}, v, {1, 2, 10, 10});
  EXPECT_FALSE(resize_node(r)->attrs.has("scale"));
}

TEST(ResizeLowering, OneDimensionalIsAHeightOneImage) {
  auto r = run(kInterpolate, "input", {1, 3, 7}, interpolate({}, 1.5, "linear", false), {1, 3, 10});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"reshape", "resize", "reshape"}));
  const Node* n = resize_node(r);
  EXPECT_EQ(n->inputs[0]->shape, (Shape{1, 3, 1, 7}));
  EXPECT_EQ(n->attrs.get_ints("size"), (Ints{1, 10}));
  EXPECT_EQ(n->attrs.get_floats("scale"), (Floats{0.0, 1.5}));
}

TEST(ResizeLowering, AreaIsAnAveragePool) {
  auto r =
      run(kInterpolate, "input", {1, 3, 8, 6}, interpolate(Ints{4, 2}, {}, "area"), {1, 3, 4, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"avg_pool"});
  r = run(kInterpolate, "input", {1, 3, 7, 7}, interpolate(Ints{3, 3}, {}, "area"), {1, 3, 3, 3});
  EXPECT_TRUE(has_error(r, "mode 'area' from size 7 to 3 is not supported"));
}

TEST(ResizeLowering, TrilinearIsOneResizeOfThreeAxes) {
  auto r = run(kInterpolate, "input", {1, 2, 4, 4, 4}, interpolate({}, 2.0, "trilinear", false),
               {1, 2, 8, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* n = resize_node(r);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->attrs.get_ints("size"), (Ints{8, 8, 8}));
  EXPECT_EQ(n->attrs.get_string("method"), "bilinear");
  EXPECT_EQ(n->outputs[0]->shape, (Shape{1, 2, 8, 8, 8}));
}

TEST(ResizeLowering, AntialiasIsAnAttribute) {
  Attrs aa = interpolate(Ints{2, 2}, {}, "bilinear", false);
  aa.set("antialias", true);
  auto r = run(kInterpolate, "input", {1, 2, 8, 8}, aa, {1, 2, 2, 2});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_TRUE(resize_node(r)->attrs.get_bool("antialias"));
}

TEST(ResizeLowering, Refusals) {
  auto r = run(kInterpolate, "input", {1, 2, 4, 4, 4}, interpolate(Ints{2, 2, 2}, {}, "area"),
               {1, 2, 2, 2, 2});
  EXPECT_TRUE(has_error(r, "mode 'area' of 5-D input"));
  Attrs aa = interpolate(Ints{2, 2}, {}, "nearest");
  aa.set("antialias", true);
  r = run(kInterpolate, "input", {1, 2, 8, 8}, aa, {1, 2, 2, 2});
  EXPECT_TRUE(has_error(r, "antialias=True takes mode 'bilinear' or 'bicubic'"));
  r = run(kInterpolate, "input", {1, 2, 4, 4}, interpolate(Ints{8, 8}, {}, "bilinear", false),
          {1, 2, 8, 8}, DType::kInt32);
  EXPECT_TRUE(has_error(r, "bilinear interpolation of int32 tensors is not supported"));
}

// Dropout lives in misc.cc; DeepLabV3's head is where it first mattered.
TEST(DropoutLowering, EvalIsIdentityTrainingIsRefused) {
  Attrs a;
  a.set("p", 0.5);
  a.set("training", false);
  a.set("inplace", false);
  auto r = run("torch.nn.functional.dropout2d", "input", {1, 3, 4, 4}, a, {1, 3, 4, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"identity"});
  a.set("training", true);
  r = run("torch.nn.functional.dropout", "input", {1, 3}, a, {1, 3});
  EXPECT_TRUE(has_error(r, "dropout in training mode draws a random mask"));
  Attrs t;
  t.set("p", 0.5);
  t.set("train", false);
  r = run("aten.dropout.default", "input", {2, 3}, t, {2, 3});
  EXPECT_EQ(ops(r), std::vector<std::string>{"identity"});
}

}  // namespace
}  // namespace ferry
