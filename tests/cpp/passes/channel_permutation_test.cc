// fold_channel_permutations: a reshape -> transpose -> reshape that reorders the channels
// next to a conv goes into the conv's weights, on graphs as layout leaves them.
#include <gtest/gtest.h>

#include "ir/verify.h"
#include "passes/passes.h"

namespace ferry {
namespace {

using Ints = std::vector<int64_t>;

// Physical [1, 2, 2, 6] pixels; the interleave views the channels as [A, B] = [3, 2] and
// swaps them: result channel b * 3 + a holds channel a * 2 + b.
constexpr int64_t kPixels = 4, kA = 3, kB = 2, kC = kA * kB;
int64_t interleaved(int64_t j) { return (j % kA) * kB + j / kA; }

Value* op(Graph& g, const std::string& name, std::vector<Value*> in, Shape shape, Attrs attrs = {},
          Layout layout = Layout::kPyTorch) {
  Node* n = g.add_node(name, std::move(in), std::move(attrs));
  Value* v = g.add_value(DType::kFloat32, std::move(shape));
  v->layout = layout;
  g.add_output_to(n, v);
  return v;
}

Value* reshape(Graph& g, Value* x, Shape shape) {
  Attrs a;
  a.set("shape", shape);
  return op(g, "reshape", {x}, shape, a);
}

// x -> reshape [4, A, B] -> transpose (0, 2, 1) -> reshape [1, 2, 2, C]
Value* interleave(Graph& g, Value* x, Ints perm = {0, 2, 1}) {
  Value* split = reshape(g, x, {kPixels, kA, kB});
  Attrs a;
  a.set("perm", perm);
  Shape moved;
  for (int64_t axis : perm) moved.push_back(split->shape[axis]);
  return reshape(g, op(g, "transpose", {split}, moved, a), {1, 2, 2, kC});
}

Value* constant(Graph& g, Shape shape, Layout layout = Layout::kFixed) {
  auto data = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < data->size(); ++i) data->mutable_as<float>()[i] = float(i);
  Value* v = g.add_constant(data);
  v->layout = layout;
  return v;
}

Attrs conv_attrs(int64_t groups = 1) {
  Attrs a;
  a.set("strides", Ints{1, 1});
  a.set("dilations", Ints{1, 1});
  a.set("groups", groups);
  a.set("padding", std::string("VALID"));
  return a;
}

// A conv as layout leaves it: channels-last input and output ([1, C, 2, 2] logically).
Value* conv(Graph& g, Value* x, int64_t cin, int64_t cout, bool bias, int64_t groups = 1) {
  return op(g, "conv",
            {x, constant(g, {1, 1, cin / groups, cout}), bias ? constant(g, {cout}) : nullptr},
            {1, cout, 2, 2}, conv_attrs(groups), Layout::kChannelsLast);
}

Value* image(Graph& g, int64_t channels) {
  Value* x = g.add_value(DType::kFloat32, {1, channels, 2, 2}, "x");
  x->layout = Layout::kChannelsLast;
  g.inputs.push_back(x);
  return x;
}

void finish(Graph& g) {
  while (fold_channel_permutations(g) | eliminate_dead_code(g)) {
  }
  verify(g, "test");
}

int count(const Graph& g, const std::string& name) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op == name;
  return n;
}

// conv(permute(x), K)[o] = sum_j K[j, o] x[interleaved(j)]: input channel interleaved(j) of
// the folded conv carries K's row j.
TEST(ChannelPermutation, FoldsIntoTheConvThatReadsIt) {
  Graph g;
  Value* x = image(g, kC);
  Value* y = conv(g, interleave(g, x), kC, 5, true);
  g.outputs.push_back(y);
  const TensorData& before = *y->producer->inputs[1]->constant;
  finish(g);
  ASSERT_EQ(g.num_nodes(), 1u);
  const Node* c = y->producer;
  EXPECT_EQ(c->inputs[0], x);
  const TensorData& kernel = *c->inputs[1]->constant;
  for (int64_t j = 0; j < kC; ++j)
    for (int64_t o = 0; o < 5; ++o)
      EXPECT_EQ(kernel.as<float>()[interleaved(j) * 5 + o], before.as<float>()[j * 5 + o]);
  EXPECT_EQ(before.as<float>()[7], 7.0f);  // the original constant is left as it was
}

// permute(conv(x, K, b))[j] = conv(x)[interleaved(j)]: output channel j of the folded conv
// carries K's column and b's entry interleaved(j); the ReLU between moves along.
TEST(ChannelPermutation, FoldsIntoTheConvThatWritesIt) {
  Graph g;
  Value* x = image(g, 3);
  Value* y = conv(g, x, 3, kC, true);
  y->origin = 11;
  Value* r = op(g, "relu", {y}, {1, kC, 2, 2}, {}, Layout::kChannelsLast);
  r->origin = 12;
  Value* out = op(g, "neg", {interleave(g, r)}, {1, 2, 2, kC});
  g.outputs.push_back(out);
  finish(g);
  EXPECT_EQ(count(g, "transpose") + count(g, "reshape"), 0);
  const Node* c = y->producer;
  ASSERT_EQ(out->producer->inputs[0], r);
  EXPECT_EQ(r->producer->inputs[0], y);
  const TensorData& kernel = *c->inputs[1]->constant;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < kC; ++j)
      EXPECT_EQ(kernel.as<float>()[i * kC + j], float(i * kC + interleaved(j)));
  for (int64_t j = 0; j < kC; ++j)
    EXPECT_EQ(c->inputs[2]->constant->as<float>()[j], float(interleaved(j)));
  // Both now hold channels in another order than the PyTorch values they stood for.
  EXPECT_EQ(y->origin, -1);
  EXPECT_EQ(r->origin, -1);
}

// permute(batch_norm(conv(x))): the batch norm's per-channel constants move with the channels.
TEST(ChannelPermutation, BatchNormConstantsMoveWithTheChannels) {
  Graph g;
  Value* x = image(g, 3);
  Value* y = conv(g, x, 3, kC, false);
  Attrs bn;
  bn.set("axis", int64_t{3});
  bn.set("epsilon", 1e-5);
  Value* n = op(g, "batch_norm",
                {y, constant(g, {kC}, Layout::kPyTorch), constant(g, {kC}, Layout::kPyTorch),
                 constant(g, {kC}, Layout::kPyTorch), constant(g, {kC}, Layout::kPyTorch)},
                {1, kC, 2, 2}, bn, Layout::kChannelsLast);
  Value* out = op(g, "neg", {interleave(g, n)}, {1, 2, 2, kC});
  g.outputs.push_back(out);
  finish(g);
  EXPECT_EQ(count(g, "transpose"), 0);
  const Node* norm = n->producer;
  for (size_t i = 1; i <= 4; ++i)
    for (int64_t j = 0; j < kC; ++j)
      EXPECT_EQ(norm->inputs[i]->constant->as<float>()[j], float(interleaved(j)));
}

TEST(ChannelPermutation, KeptWhereItCannotFold) {
  {  // a grouped conv mixes channels only within groups
    Graph g;
    g.outputs.push_back(conv(g, interleave(g, image(g, kC)), kC, 4, false, 2));
    finish(g);
    EXPECT_EQ(count(g, "transpose"), 1);
  }
  {  // the conv's output is read elsewhere too
    Graph g;
    Value* y = conv(g, image(g, 3), 3, kC, false);
    g.outputs.push_back(op(g, "neg", {interleave(g, y)}, {1, 2, 2, kC}));
    g.outputs.push_back(y);
    finish(g);
    EXPECT_EQ(count(g, "transpose"), 1);
  }
  {  // the transpose moves pixels, not only channels
    Graph g;
    Value* x = image(g, kC);
    Value* split = reshape(g, x, {2, 2, kC});
    Attrs a;
    a.set("perm", Ints{1, 0, 2});
    Value* moved = reshape(g, op(g, "transpose", {split}, {2, 2, kC}, a), {1, 2, 2, kC});
    g.outputs.push_back(conv(g, moved, kC, 5, false));
    finish(g);
    EXPECT_EQ(count(g, "transpose"), 1);
  }
  {  // before layout, a conv's channels are not its last axis
    Graph g;
    Value* x = image(g, kC);
    Value* y = conv(g, interleave(g, x), kC, 5, false);
    y->layout = Layout::kPyTorch;
    g.outputs.push_back(y);
    finish(g);
    EXPECT_EQ(count(g, "transpose"), 1);
  }
}

TEST(ChannelPermutation, OtherReadersKeepTheInterleave) {
  Graph g;
  Value* x = image(g, kC);
  Value* u = interleave(g, x);
  Value* y = conv(g, u, kC, 5, false);
  Value* s = op(g, "neg", {u}, {1, 2, 2, kC});
  g.outputs = {y, s};
  finish(g);
  EXPECT_EQ(y->producer->inputs[0], x);
  EXPECT_EQ(s->producer->inputs[0], u);
  EXPECT_EQ(count(g, "transpose"), 1);
}

}  // namespace
}  // namespace ferry
