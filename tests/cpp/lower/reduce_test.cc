#include <gtest/gtest.h>

#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class ReduceTest : public lower_test::LoweringTest {};

TEST_F(ReduceTest, MeanNormalizesAndSortsDims) {
  Value* x = input(DType::kFloat32, {2, 3, 4, 5});
  call("torch.mean", {{"input", x}},
       attrs({{"dim", Ints{-1, 1}}, {"keepdim", true}, {"dtype", Attr()}}),
       {{DType::kFloat32, {2, 1, 4, 1}}});
  call("torch.Tensor.mean", {{"input", x}}, attrs({{"dim", int64_t{2}}, {"keepdim", false}}),
       {{DType::kFloat32, {2, 3, 5}}});
  ASSERT_EQ(lower_ops(), Ops({"mean", "mean"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({1, 3}));
  EXPECT_TRUE(node(0)->attrs.get_bool("keepdims"));
  EXPECT_EQ(node(1)->attrs.get_ints("axes"), Ints({2}));
  EXPECT_FALSE(node(1)->attrs.get_bool("keepdims"));
}

TEST_F(ReduceTest, NoDimMeansEveryDimListedExplicitly) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("aten.mean.default", {{"input", x}}, attrs({{"dtype", Attr()}}), {{DType::kFloat32, {}}});
  call("torch.amax", {{"input", x}}, attrs({{"dim", Ints{}}, {"keepdim", false}}),
       {{DType::kFloat32, {}}});
  call("torch.sum", {{"input", x}}, attrs({{"dim", Attr()}, {"keepdim", true}}),
       {{DType::kFloat32, {1, 1, 1}}});
  ASSERT_EQ(lower_ops(), Ops({"mean", "max", "sum"}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(node(i)->attrs.get_ints("axes"), Ints({0, 1, 2})) << i;
}

TEST_F(ReduceTest, IntSumAccumulatesInInt64AndDtypeCastsFirst) {
  Value* i = input(DType::kInt32, {2, 3});
  Value* h = input(DType::kFloat16, {2, 3});
  call("aten.sum.dim_IntList", {{"input", i}}, attrs({{"dim", Ints{1}}, {"keepdim", false}}),
       {{DType::kInt64, {2}}});
  call("torch.mean", {{"input", h}},
       attrs({{"dim", int64_t{0}}, {"keepdim", false}, {"dtype", std::string("float32")}}),
       {{DType::kFloat32, {3}}});
  ASSERT_EQ(lower_ops(), Ops({"cast", "sum", "cast", "mean"}));
  EXPECT_EQ(node(0)->attrs.get_string("dtype"), "int64");
  EXPECT_EQ(node(2)->attrs.get_string("dtype"), "float32");
}

TEST_F(ReduceTest, RepeatedDimIsRefused) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.sum", {{"input", x}}, attrs({{"dim", Ints{1, -1}}, {"keepdim", false}}),
       {{DType::kFloat32, {2}}});
  lower_ops();
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("more than once"), std::string::npos) << errors_[0];
}

TEST_F(ReduceTest, MaxWithoutDimReducesEverything) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.max", {{"input", x}}, {}, {{DType::kFloat32, {}}});
  ASSERT_EQ(lower_ops(), Ops({"max"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({0, 1}));
  EXPECT_FALSE(node(0)->attrs.get_bool("keepdims"));
}

TEST_F(ReduceTest, MaxWithOtherIsMaximum) {
  Value* x = input(DType::kFloat32, {2, 3});
  Value* y = input(DType::kFloat32, {3});
  call("torch.min", {{"input", x}, {"other", y}}, {}, {{DType::kFloat32, {2, 3}}});
  EXPECT_EQ(lower_ops(), Ops({"minimum"}));
}

TEST_F(ReduceTest, MaxWithDimGivesValuesAndFirstIndices) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("torch.max", {{"input", x}}, attrs({{"dim", int64_t{-2}}, {"keepdim", false}}),
       {{DType::kFloat32, {2, 4}}, {DType::kInt64, {2, 4}}});
  ASSERT_EQ(lower_ops(),
            Ops({"max", "reshape", "equal", "not_equal", "logical_or", "where", "min", "reshape"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({1}));
  EXPECT_TRUE(node(0)->attrs.get_bool("keepdims"));
  // The candidate positions: a [1, 3, 1] int64 constant 0, 1, 2, else 3 (past the end).
  const Node* where = node(5);
  const Value* positions = where->inputs[1];
  ASSERT_TRUE(positions->is_constant());
  EXPECT_EQ(positions->shape, Shape({1, 3, 1}));
  EXPECT_EQ(positions->constant->dtype(), DType::kInt64);
  EXPECT_EQ(positions->constant->scalar_at(2), 2);
  EXPECT_EQ(where->inputs[2]->constant->scalar_at(0), 3);
  EXPECT_EQ(node(6)->attrs.get_ints("axes"), Ints({1}));
  EXPECT_EQ(result_.graph->outputs[1]->dtype, DType::kInt64);
  EXPECT_EQ(result_.graph->outputs[1]->shape, Shape({2, 4}));
}

TEST_F(ReduceTest, ArgmaxWithoutDimIndexesTheFlatTensor) {
  Value* x = input(DType::kInt32, {2, 3});
  call("torch.argmax", {{"input", x}}, attrs({{"dim", Attr()}, {"keepdim", false}}),
       {{DType::kInt64, {}}});
  ASSERT_EQ(lower_ops(), Ops({"reshape", "max", "equal", "where", "min", "reshape"}));
  EXPECT_EQ(node(0)->attrs.get_ints("shape"), Ints({6}));
}

TEST_F(ReduceTest, SoftmaxAxes) {
  Value* x4 = input(DType::kFloat32, {2, 3, 4, 5});
  Value* x3 = input(DType::kFloat32, {3, 4, 5});
  call("torch.nn.functional.softmax", {{"input", x4}},
       attrs({{"dim", int64_t{-1}}, {"_stacklevel", int64_t{3}}, {"dtype", Attr()}}),
       {{DType::kFloat32, {2, 3, 4, 5}}});
  call("torch.nn.functional.softmax", {{"input", x4}}, attrs({{"dim", Attr()}}),
       {{DType::kFloat32, {2, 3, 4, 5}}});
  call("torch.Tensor.softmax", {{"input", x3}}, attrs({{"dim", Attr()}}),
       {{DType::kFloat32, {3, 4, 5}}});
  ASSERT_EQ(lower_ops(), Ops({"softmax", "softmax", "softmax"}));
  EXPECT_EQ(node(0)->attrs.get_int("axis"), 3);
  EXPECT_EQ(node(1)->attrs.get_int("axis"), 1);
  EXPECT_EQ(node(2)->attrs.get_int("axis"), 0);
}

TEST_F(ReduceTest, LogSoftmaxCastsToRequestedType) {
  Value* h = input(DType::kFloat16, {2, 5});
  call("torch.nn.functional.log_softmax", {{"input", h}},
       attrs({{"dim", int64_t{1}}, {"dtype", std::string("float32")}}),
       {{DType::kFloat32, {2, 5}}});
  call("aten._softmax.default", {{"input", h}},
       attrs({{"dim", int64_t{0}}, {"half_to_float", true}}), {{DType::kFloat32, {2, 5}}});
  call("aten._log_softmax.default", {{"input", h}},
       attrs({{"dim", int64_t{-1}}, {"half_to_float", false}}), {{DType::kFloat16, {2, 5}}});
  ASSERT_EQ(lower_ops(), Ops({"cast", "log_softmax", "cast", "softmax", "log_softmax"}));
  EXPECT_EQ(node(1)->attrs.get_int("axis"), 1);
  EXPECT_EQ(node(3)->attrs.get_int("axis"), 0);
  EXPECT_EQ(node(4)->attrs.get_int("axis"), 1);
}

TEST_F(ReduceTest, AtenOverloadsBindSelf) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("aten.sum.dim_IntList", {{"self", x}},
       attrs({{"dim", Ints{-1}}, {"keepdim", false}, {"dtype", Attr()}}), {{DType::kFloat32, {2}}});
  call("aten._softmax.default", {{"self", x}},
       attrs({{"dim", int64_t{-1}}, {"half_to_float", false}}), {{DType::kFloat32, {2, 3}}});
  ASSERT_EQ(lower_ops(), Ops({"sum", "softmax"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({1}));
  EXPECT_EQ(node(1)->attrs.get_int("axis"), 1);
}

TEST_F(ReduceTest, EverySpellingIsRegistered) {
  for (const char* op :
       {"torch.Tensor.sum", "aten.sum.default", "aten.mean.dim", "torch.Tensor.amax", "torch.amin",
        "aten.amin.default", "torch.Tensor.max", "aten.max.dim", "aten.max.default",
        "torch.Tensor.min", "aten.min.dim", "torch.softmax", "aten.softmax.int",
        "torch.log_softmax", "torch.Tensor.log_softmax", "aten.log_softmax.int"}) {
    EXPECT_NE(registry_.find(op), nullptr) << op;
  }
}

TEST_F(ReduceTest, NormalizeDividesByClampedNorm) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("torch.nn.functional.normalize", {{"input", x}},
       attrs({{"p", 2.0}, {"dim", int64_t{-2}}, {"eps", 1e-6}}), {{DType::kFloat32, {2, 3, 4}}});
  call("torch.nn.functional.normalize", {{"input", x}},
       attrs({{"p", int64_t{1}}, {"dim", int64_t{2}}, {"eps", 1e-12}}),
       {{DType::kFloat32, {2, 3, 4}}});
  ASSERT_EQ(lower_ops(),
            Ops({"mul", "sum", "sqrt", "maximum", "div", "abs", "sum", "maximum", "div"}));
  EXPECT_EQ(node(1)->attrs.get_ints("axes"), Ints({1}));
  EXPECT_TRUE(node(1)->attrs.get_bool("keepdims"));
  EXPECT_EQ(node(1)->outputs[0]->shape, (Shape{2, 1, 4}));
  EXPECT_FLOAT_EQ(node(3)->inputs[1]->constant->as<float>()[0], 1e-6f);
  EXPECT_EQ(node(6)->attrs.get_ints("axes"), Ints({2}));
}

TEST_F(ReduceTest, NormalizeRefusesOtherP) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.nn.functional.normalize", {{"input", x}},
       attrs({{"p", 3.0}, {"dim", int64_t{1}}, {"eps", 1e-12}}), {{DType::kFloat32, {2, 3}}});
  lower_ops();
  expect_error("normalize supports p=1 and p=2, got p=3");
}

}  // namespace
}  // namespace ferry
