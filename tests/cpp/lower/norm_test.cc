#include <gtest/gtest.h>

#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

std::shared_ptr<TensorData> iota(Shape shape) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t->size(); ++i) t->mutable_as<float>()[i] = static_cast<float>(i);
  return t;
}

// One PyTorch-level call in a graph of its own.
struct Call {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  std::vector<Value*> args;
  std::vector<std::string> names;

  Call& input(const std::string& arg, Shape shape, DType dtype = DType::kFloat32) {
    Value* v = g->add_value(dtype, std::move(shape), arg);
    g->inputs.push_back(v);
    g->input_names.push_back(arg);
    args.push_back(v);
    names.push_back(arg);
    return *this;
  }
  Call& constant(const std::string& arg, std::shared_ptr<TensorData> data) {
    args.push_back(g->add_constant(std::move(data), arg));
    names.push_back(arg);
    return *this;
  }
  LowerResult run(const std::string& op, Attrs attrs, Shape out, size_t num_outputs = 1) {
    Node* n = g->add_node(op, args, std::move(attrs));
    n->input_args = names;
    for (size_t i = 0; i < num_outputs; ++i) {
      Value* y = g->add_value(DType::kFloat32, out, "y" + std::to_string(i));
      g->add_output_to(n, y);
      g->outputs.push_back(y);
      g->output_names.push_back(y->name);
    }
    Registry registry;
    register_all(registry);
    return lower(*g, registry);
  }
};

std::vector<std::string> ops(const LowerResult& r) {
  std::vector<std::string> out;
  for (const Node* n : r.graph->nodes()) out.push_back(n->op);
  return out;
}

const Node* find(const LowerResult& r, const std::string& op) {
  for (const Node* n : r.graph->nodes()) {
    if (n->op == op) return n;
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

using Ints = std::vector<int64_t>;

Attrs bn_attrs(bool training) {
  Attrs a;
  a.set("training", training);
  a.set("momentum", 0.1);
  a.set("eps", 1e-3);
  return a;
}

TEST(NormLowering, BatchNormInference) {
  Call c;
  c.input("input", {2, 4, 8, 8})
      .constant("running_mean", iota({4}))
      .constant("running_var", iota({4}))
      .constant("weight", iota({4}))
      .constant("bias", iota({4}));
  auto r = c.run("torch.nn.functional.batch_norm", bn_attrs(false), {2, 4, 8, 8});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), std::vector<std::string>{"batch_norm"});
  const Node* bn = find(r, "batch_norm");
  EXPECT_EQ(bn->attrs.get_int("axis"), 1);
  EXPECT_DOUBLE_EQ(bn->attrs.get_float("epsilon"), 1e-3);
  ASSERT_EQ(bn->inputs.size(), 5u);
  EXPECT_EQ(bn->inputs[1]->name, "weight");
  EXPECT_EQ(bn->inputs[2]->name, "bias");
  EXPECT_EQ(bn->inputs[3]->name, "running_mean");
  EXPECT_EQ(bn->inputs[4]->name, "running_var");
}

TEST(NormLowering, BatchNormWithoutAffineGetsOnesAndZeros) {
  Call c;
  c.input("input", {2, 3, 5})
      .constant("running_mean", iota({3}))
      .constant("running_var", iota({3}));
  auto r = c.run("aten.batch_norm.default", bn_attrs(false), {2, 3, 5});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* bn = find(r, "batch_norm");
  const TensorData& gamma = *bn->inputs[1]->constant;
  const TensorData& beta = *bn->inputs[2]->constant;
  ASSERT_EQ(gamma.shape(), (Shape{3}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gamma.as<float>()[i], 1.0f);
    EXPECT_EQ(beta.as<float>()[i], 0.0f);
  }
}

TEST(NormLowering, BatchNormInTrainingModeIsRefused) {
  Call c;
  c.input("input", {2, 3, 5})
      .constant("running_mean", iota({3}))
      .constant("running_var", iota({3}));
  auto r = c.run("torch.nn.functional.batch_norm", bn_attrs(true), {2, 3, 5});
  EXPECT_TRUE(has_error(r, "training mode; call model.eval() before converting"));

  Call d;
  d.input("input", {2, 3, 5});
  r = d.run("torch.nn.functional.batch_norm", bn_attrs(true), {2, 3, 5});
  EXPECT_TRUE(has_error(r, "without running statistics"));
}

TEST(NormLowering, LayerNormOverTrailingAxes) {
  Call c;
  c.input("input", {2, 3, 4, 5}).constant("weight", iota({4, 5}));
  Attrs a;
  a.set("normalized_shape", Ints{4, 5});
  a.set("eps", 1e-5);
  auto r = c.run("torch.nn.functional.layer_norm", a, {2, 3, 4, 5});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* ln = find(r, "layer_norm");
  ASSERT_NE(ln, nullptr);
  EXPECT_EQ(ln->attrs.get_ints("axes"), (Ints{2, 3}));
  EXPECT_DOUBLE_EQ(ln->attrs.get_float("epsilon"), 1e-5);
  ASSERT_EQ(ln->inputs.size(), 3u);
  EXPECT_EQ(ln->inputs[1]->name, "weight");
  EXPECT_EQ(ln->inputs[2], nullptr);

  Call d;
  d.input("input", {2, 3, 4, 5});
  a.set("normalized_shape", Ints{3});
  r = d.run("aten.layer_norm.default", a, {2, 3, 4, 5});
  EXPECT_TRUE(has_error(r, "normalized_shape does not match"));
}

TEST(NormLowering, Embedding) {
  Call c;
  c.input("input", {2, 7}, DType::kInt64).constant("weight", iota({10, 4}));
  Attrs a;
  a.set("padding_idx", std::monostate{});
  a.set("max_norm", std::monostate{});
  auto r = c.run("torch.nn.functional.embedding", a, {2, 7, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* e = find(r, "embedding");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->inputs[0]->name, "input");
  EXPECT_EQ(e->inputs[1]->name, "weight");

  // aten.embedding takes (weight, indices).
  Call d;
  d.constant("weight", iota({10, 4})).input("indices", {7}, DType::kInt64);
  r = d.run("aten.embedding.default", {}, {7, 4});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(find(r, "embedding")->inputs[0]->name, "indices");

  Call f;
  f.input("input", {2, 7}, DType::kInt64).constant("weight", iota({10, 4}));
  a.set("max_norm", 1.0);
  r = f.run("torch.nn.functional.embedding", a, {2, 7, 4});
  EXPECT_TRUE(has_error(r, "embedding with max_norm is not supported"));
}

}  // namespace
}  // namespace ferry
