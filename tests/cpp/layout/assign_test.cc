#include "layout/assign.h"

#include <gtest/gtest.h>

#include "ir/verify.h"
#include "passes/passes.h"

namespace ferry {
namespace {

Value* op(Graph& g, const std::string& name, std::vector<Value*> inputs, Shape shape,
          Attrs attrs = {}) {
  Node* n = g.add_node(name, std::move(inputs), std::move(attrs));
  Value* v = g.add_value(DType::kFloat32, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

Value* kernel(Graph& g) {
  Value* k = g.add_constant(std::make_shared<TensorData>(DType::kFloat32, Shape{1, 1, 3, 3}));
  k->layout = Layout::kFixed;
  return k;
}

void run(Graph& g, LayoutOptions options) {
  LayoutPlan plan = assign_layouts_greedy(g, options);
  materialize_layouts(g, plan);
  verify(g, "layout");
  while (remove_noops(g) | fold_transposes(g) | eliminate_dead_code(g)) {
  }
  verify(g, "cleanup");
}

TEST(Layout, ConvChainWithTensorFlowOrderEndsHasNoTranspose) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Value* r = op(g, "relu", {c}, {1, 3, 8, 8});
  Attrs mean;
  mean.set("axes", std::vector<int64_t>{2, 3});
  mean.set("keepdims", false);
  Value* m = op(g, "mean", {r}, {1, 3}, mean);
  g.outputs.push_back(m);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 0);
  // The reduction now runs over the physical H, W axes of the channels-last tensor.
  Node* mean_node = g.nodes().back();
  EXPECT_EQ(mean_node->attrs.get_ints("axes"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r->layout, Layout::kChannelsLast);
}

TEST(Layout, PyTorchOrderInputsAndOutputsCostOneTransposeEach) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Value* r = op(g, "relu", {c}, {1, 3, 8, 8});
  g.outputs.push_back(r);
  run(g, {{OrderRequest::kPyTorch}, {OrderRequest::kPyTorch}});
  EXPECT_EQ(transpose_stats(g).count, 2);
  EXPECT_EQ(transpose_stats(g).bytes, 2 * 1 * 3 * 8 * 8 * 4);
}

TEST(Layout, OneTransposeServesEveryConsumer) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* a = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Value* b = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Value* s = op(g, "add", {a, b}, {1, 3, 8, 8});
  g.outputs.push_back(s);
  run(g, {{OrderRequest::kPyTorch}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 1);
}

TEST(Layout, ConstantOperandIsPermutedNotTransposed) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 2, 2, 2}, "x");
  g.inputs.push_back(x);
  auto data = std::make_shared<TensorData>(DType::kFloat32, Shape{2, 1, 1});
  data->mutable_as<float>()[0] = 10;
  data->mutable_as<float>()[1] = 20;
  Value* bias = g.add_constant(data, "bias");
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 2, 2, 2});
  Value* s = op(g, "add", {c, bias}, {1, 2, 2, 2});
  g.outputs.push_back(s);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 0);
  Value* permuted = g.nodes().back()->inputs[1];
  EXPECT_EQ(permuted->physical_shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(permuted->constant->as<float>()[1], 20);
}

TEST(Layout, PermuteThatEqualsTheOrderChangeIsFree) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Attrs perm;
  perm.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  Value* p = op(g, "transpose", {c}, {1, 8, 8, 3}, perm);
  Value* d = op(g, "dense", {p, kernel(g), nullptr}, {1, 8, 8, 3});
  g.outputs.push_back(d);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kPyTorch}});
  EXPECT_EQ(transpose_stats(g).count, 0);
}

TEST(Layout, FlattenAfterGlobalPoolKeepsChannelsLast) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 8, 8});
  Attrs mean;
  mean.set("axes", std::vector<int64_t>{2, 3});
  mean.set("keepdims", true);
  Value* m = op(g, "mean", {c}, {1, 3, 1, 1}, mean);
  Attrs shape;
  shape.set("shape", std::vector<int64_t>{1, 3});
  Value* f = op(g, "reshape", {m}, {1, 3}, shape);
  g.outputs.push_back(f);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kPyTorch}});
  EXPECT_EQ(transpose_stats(g).count, 0);
}

TEST(Layout, ReshapeMixingChannelsNeedsPyTorchOrder) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 4, 4}, "x");
  g.inputs.push_back(x);
  Value* c = op(g, "conv", {x, kernel(g), nullptr}, {1, 3, 4, 4});
  Attrs shape;
  shape.set("shape", std::vector<int64_t>{1, 48});
  Value* f = op(g, "reshape", {c}, {1, 48}, shape);
  g.outputs.push_back(f);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kPyTorch}});
  ASSERT_EQ(transpose_stats(g).count, 1);
  // The transpose brings the conv output back to NCHW before the flatten.
  EXPECT_EQ(g.nodes()[1]->op, "transpose");
  EXPECT_EQ(g.nodes()[1]->attrs.get_ints("perm"), (std::vector<int64_t>{0, 3, 1, 2}));
}

TEST(Layout, SliceAttributesAreRemapped) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 4, 6, 6}, "x");
  g.inputs.push_back(x);
  Attrs s;
  s.set("begin", std::vector<int64_t>{0, 1, 0, 0});
  s.set("end", std::vector<int64_t>{1, 4, 6, 6});
  s.set("strides", std::vector<int64_t>{1, 2, 1, 3});
  Value* y = op(g, "slice", {x}, {1, 2, 6, 2}, s);
  g.outputs.push_back(y);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  Node* n = g.nodes()[0];
  EXPECT_EQ(n->attrs.get_ints("begin"), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(n->attrs.get_ints("strides"), (std::vector<int64_t>{1, 1, 3, 2}));
  EXPECT_EQ(y->physical_shape(), (Shape{1, 6, 2, 2}));
}

// A constant whose own rank is below 3 ([C, 1] next to [N, C, L]) still broadcasts against
// a channels-last tensor: it is aligned to the output rank and permuted like any other.
TEST(Layout, LowRankConstantNextToChannelsLastIsPermuted) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 3, 4}, "x");
  g.inputs.push_back(x);
  auto data = std::make_shared<TensorData>(DType::kFloat32, Shape{3, 1});
  for (int i = 0; i < 3; ++i) data->mutable_as<float>()[i] = float(i + 1);
  Value* scale = g.add_constant(data, "scale");
  Value* y = op(g, "mul", {x, scale}, {2, 3, 4});
  g.outputs.push_back(y);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 0);
  Value* permuted = g.nodes().back()->inputs[1];
  EXPECT_EQ(permuted->physical_shape(), (Shape{1, 1, 3}));
  EXPECT_EQ(permuted->constant->as<float>()[2], 3);
}

Value* layer_norm(Graph& g, Value* x, std::vector<int64_t> axes) {
  Shape normalized;
  for (int64_t a : axes) normalized.push_back(x->shape[a]);
  Value* gamma = g.add_constant(std::make_shared<TensorData>(DType::kFloat32, normalized));
  Value* beta = g.add_constant(std::make_shared<TensorData>(DType::kFloat32, normalized));
  Attrs attrs;
  attrs.set("axes", axes);
  attrs.set("epsilon", 1e-5);
  return op(g, "layer_norm", {x, gamma, beta}, x->shape, attrs);
}

// gamma/beta [C, H, W] are rewritten into the channels-last order of the axes (H, W, C).
TEST(Layout, LayerNormOverChannelsAndSpacePermutesItsParams) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 2, 2, 3}, "x");
  g.inputs.push_back(x);
  Value* y = layer_norm(g, x, {1, 2, 3});
  Node* n = y->producer;
  auto gamma = std::make_shared<TensorData>(DType::kFloat32, Shape{2, 2, 3});
  for (int i = 0; i < 12; ++i) gamma->mutable_as<float>()[i] = float(i);
  g.set_input(n, 1, g.add_constant(gamma, "gamma"));
  g.outputs.push_back(y);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 0);
  EXPECT_EQ(n->attrs.get_ints("axes"), (std::vector<int64_t>{1, 2, 3}));
  const Value* fitted = n->inputs[1];
  EXPECT_EQ(fitted->layout, Layout::kFixed);
  EXPECT_EQ(fitted->physical_shape(), (Shape{2, 3, 2}));
  // physical [h][w][c] = logical [c][h][w]: element (h=0, w=1, c=1) is logical 1*6 + 0*3 + 1.
  EXPECT_EQ(fitted->constant->as<float>()[1 * 2 + 1], 7);
  EXPECT_EQ(n->inputs[2]->physical_shape(), (Shape{2, 3, 2}));
}

// Over (H, W) the channels-last axes keep their order: no transpose, axes remapped.
TEST(Layout, LayerNormOverSpaceStaysChannelsLast) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  g.inputs.push_back(x);
  Value* y = layer_norm(g, x, {2, 3});
  g.outputs.push_back(y);
  run(g, {{OrderRequest::kTensorFlow}, {OrderRequest::kTensorFlow}});
  EXPECT_EQ(transpose_stats(g).count, 0);
  EXPECT_EQ(g.nodes().back()->attrs.get_ints("axes"), (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace ferry
