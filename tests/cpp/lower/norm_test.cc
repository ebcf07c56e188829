#include <gtest/gtest.h>

#include "call_fixture.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

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
