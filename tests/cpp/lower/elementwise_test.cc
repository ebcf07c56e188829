#include <gtest/gtest.h>

#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class ElementwiseTest : public lower_test::LoweringTest {};

// The value and dtype of a 0-d constant operand.
void expect_scalar(const Value* v, DType dtype, double value) {
  ASSERT_TRUE(v->is_constant());
  EXPECT_EQ(v->constant->dtype(), dtype);
  EXPECT_TRUE(v->shape.empty());
  EXPECT_DOUBLE_EQ(v->constant->scalar_at(0), value);
}

TEST_F(ElementwiseTest, AddsTwoTensorsDirectly) {
  Value* x = input(DType::kFloat32, {2, 3});
  Value* y = input(DType::kFloat32, {3});
  call("torch.add", {{"input", x}, {"other", y}}, attrs({{"alpha", int64_t{1}}}), DType::kFloat32,
       {2, 3});
  EXPECT_EQ(lower_ops(), Ops({"add"}));
  EXPECT_EQ(node(0)->inputs[0], result_.graph->inputs[0]);
  EXPECT_EQ(node(0)->inputs[1], result_.graph->inputs[1]);
}

TEST_F(ElementwiseTest, PythonNumberBecomesScalarOfResultType) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.__add__", {{"input", x}}, attrs({{"other", int64_t{1}}}), DType::kFloat32,
       {4});
  EXPECT_EQ(lower_ops(), Ops({"add"}));
  expect_scalar(node(0)->inputs[1], DType::kFloat32, 1.0);
}

TEST_F(ElementwiseTest, PromotionCastsIntTensorTimesFloat) {
  Value* x = input(DType::kInt32, {4});
  call("torch.Tensor.__mul__", {{"input", x}}, attrs({{"other", 0.5}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"cast", "mul"}));
  EXPECT_EQ(node(0)->attrs.get_string("dtype"), "float32");
  EXPECT_EQ(node(1)->inputs[0], node(0)->outputs[0]);
  expect_scalar(node(1)->inputs[1], DType::kFloat32, 0.5);
  EXPECT_EQ(output()->dtype, DType::kFloat32);
}

TEST_F(ElementwiseTest, IntScalarKeepsIntType) {
  Value* x = input(DType::kInt64, {4});
  call("aten.mul.Scalar", {{"input", x}}, attrs({{"other", int64_t{3}}}), DType::kInt64, {4});
  EXPECT_EQ(lower_ops(), Ops({"mul"}));
  expect_scalar(node(0)->inputs[1], DType::kInt64, 3);
}

TEST_F(ElementwiseTest, AlphaScalesTheOtherTensor) {
  Value* x = input(DType::kFloat32, {4});
  Value* y = input(DType::kFloat32, {4});
  call("torch.sub", {{"input", x}, {"other", y}}, attrs({{"alpha", int64_t{2}}}), DType::kFloat32,
       {4});
  EXPECT_EQ(lower_ops(), Ops({"mul", "sub"}));
  EXPECT_EQ(node(0)->inputs[0], result_.graph->inputs[1]);
  expect_scalar(node(0)->inputs[1], DType::kFloat32, 2);
  EXPECT_EQ(node(1)->inputs[0], result_.graph->inputs[0]);
  EXPECT_EQ(node(1)->inputs[1], node(0)->outputs[0]);
}

TEST_F(ElementwiseTest, AlphaFoldsIntoANumber) {
  Value* x = input(DType::kFloat32, {4});
  call("aten.add.Scalar", {{"input", x}}, attrs({{"other", int64_t{3}}, {"alpha", int64_t{2}}}),
       DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"add"}));
  expect_scalar(node(0)->inputs[1], DType::kFloat32, 6);
}

TEST_F(ElementwiseTest, ReflectedSubtractionSwapsOperands) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.__rsub__", {{"input", x}}, attrs({{"other", 1.0}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"sub"}));
  expect_scalar(node(0)->inputs[0], DType::kFloat32, 1);
  EXPECT_EQ(node(0)->inputs[1], result_.graph->inputs[0]);
}

TEST_F(ElementwiseTest, RsubWithAlphaScalesInput) {
  Value* x = input(DType::kFloat32, {4});
  Value* y = input(DType::kFloat32, {4});
  call("torch.rsub", {{"input", x}, {"other", y}}, attrs({{"alpha", 3.0}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"mul", "sub"}));
  EXPECT_EQ(node(0)->inputs[0], result_.graph->inputs[0]);
  EXPECT_EQ(node(1)->inputs[0], result_.graph->inputs[1]);
}

TEST_F(ElementwiseTest, TrueDivisionOfIntsIsFloat) {
  Value* x = input(DType::kInt32, {4});
  Value* y = input(DType::kInt32, {4});
  call("torch.Tensor.__truediv__", {{"input", x}, {"other", y}}, {}, DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"cast", "cast", "div"}));
}

TEST_F(ElementwiseTest, FloorRoundingModeIsFloorDiv) {
  Value* x = input(DType::kInt64, {4});
  call("aten.div.Scalar_mode", {{"input", x}},
       attrs({{"other", int64_t{2}}, {"rounding_mode", std::string("floor")}}), DType::kInt64, {4});
  EXPECT_EQ(lower_ops(), Ops({"floor_div"}));
  expect_scalar(node(0)->inputs[1], DType::kInt64, 2);
}

TEST_F(ElementwiseTest, TruncRoundingModeForFloats) {
  Value* x = input(DType::kFloat32, {4});
  Value* y = input(DType::kFloat32, {4});
  call("torch.div", {{"input", x}, {"other", y}}, attrs({{"rounding_mode", std::string("trunc")}}),
       DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"div", "less", "ceil", "floor", "where"}));
}

TEST_F(ElementwiseTest, TruncRoundingModeForInts) {
  Value* x = input(DType::kInt32, {4});
  call("torch.Tensor.div", {{"input", x}},
       attrs({{"other", int64_t{3}}, {"rounding_mode", std::string("trunc")}}), DType::kInt32, {4});
  EXPECT_EQ(lower_ops(), Ops({"floor_div", "mul", "sub", "not_equal", "less", "less", "not_equal",
                              "logical_and", "cast", "add"}));
}

TEST_F(ElementwiseTest, UnknownRoundingModeIsRefused) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.div", {{"input", x}}, attrs({{"other", 2.0}, {"rounding_mode", std::string("up")}}),
       DType::kFloat32, {4});
  lower_ops();
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("rounding_mode 'up'"), std::string::npos) << errors_[0];
}

TEST_F(ElementwiseTest, ReflectedDivisionIsReciprocalTimesOther) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.__rdiv__", {{"input", x}}, attrs({{"other", 2.0}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"div", "mul"}));
  expect_scalar(node(0)->inputs[0], DType::kFloat32, 1);
  expect_scalar(node(1)->inputs[1], DType::kFloat32, 2);
}

TEST_F(ElementwiseTest, PowFollowsPyTorchSpecialCases) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.pow", {{"input", x}}, attrs({{"exponent", int64_t{2}}}), DType::kFloat32, {4});
  call("torch.Tensor.__pow__", {{"input", x}}, attrs({{"other", 3.0}}), DType::kFloat32, {4});
  call("torch.pow", {{"input", x}}, attrs({{"exponent", 0.5}}), DType::kFloat32, {4});
  call("aten.pow.Tensor_Scalar", {{"input", x}}, attrs({{"exponent", 2.5}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"mul", "mul", "mul", "sqrt", "pow"}));
  expect_scalar(node(4)->inputs[1], DType::kFloat32, 2.5);
}

TEST_F(ElementwiseTest, HalfPowRoundsLikePyTorch) {
  Value* h = input(DType::kFloat16, {4});
  Value* b = input(DType::kBFloat16, {4});
  call("torch.Tensor.pow", {{"input", h}}, attrs({{"exponent", int64_t{3}}}), DType::kFloat16, {4});
  call("torch.Tensor.pow", {{"input", b}}, attrs({{"exponent", int64_t{3}}}), DType::kBFloat16,
       {4});
  EXPECT_EQ(lower_ops(), Ops({"cast", "mul", "mul", "cast", "mul", "mul"}));
  EXPECT_EQ(result_.graph->outputs[0]->dtype, DType::kFloat16);
  EXPECT_EQ(result_.graph->outputs[1]->dtype, DType::kBFloat16);
}

TEST_F(ElementwiseTest, ReflectedPowHasNumberBase) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.__rpow__", {{"input", x}}, attrs({{"other", int64_t{2}}}), DType::kFloat32,
       {4});
  EXPECT_EQ(lower_ops(), Ops({"pow"}));
  expect_scalar(node(0)->inputs[0], DType::kFloat32, 2);
  EXPECT_EQ(node(0)->inputs[1], result_.graph->inputs[0]);
}

TEST_F(ElementwiseTest, HalfScalarsAreRoundedToNearestEven) {
  Value* x = input(DType::kFloat16, {4});
  Value* b = input(DType::kBFloat16, {4});
  call("torch.Tensor.__mul__", {{"input", x}}, attrs({{"other", 0.1}}), DType::kFloat16, {4});
  call("torch.Tensor.__mul__", {{"input", x}}, attrs({{"other", 6e-8}}), DType::kFloat16, {4});
  call("torch.Tensor.__mul__", {{"input", x}}, attrs({{"other", 65520.0}}), DType::kFloat16, {4});
  call("torch.Tensor.__mul__", {{"input", b}}, attrs({{"other", 0.1}}), DType::kBFloat16, {4});
  ASSERT_EQ(lower_ops(), Ops({"mul", "mul", "mul", "mul"}));
  const uint16_t expected[] = {0x2E66, 0x0001, 0x7C00, 0x3DCD};
  for (size_t i = 0; i < 4; ++i) {
    const Value* c = node(i)->inputs[1];
    ASSERT_TRUE(c->is_constant());
    EXPECT_EQ(*c->constant->as<uint16_t>(), expected[i]) << i;
  }
}

TEST_F(ElementwiseTest, BoolAddIsLogicalOr) {
  Value* x = input(DType::kBool, {4});
  Value* y = input(DType::kBool, {4});
  call("torch.Tensor.__add__", {{"input", x}, {"other", y}}, {}, DType::kBool, {4});
  EXPECT_EQ(lower_ops(), Ops({"logical_or"}));
}

TEST_F(ElementwiseTest, ClampWithNumbersIsClip) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.clamp", {{"input", x}}, attrs({{"min", int64_t{0}}, {"max", 6.0}}), DType::kFloat32,
       {4});
  call("torch.Tensor.clamp", {{"input", x}}, attrs({{"min", -1.0}, {"max", Attr()}}),
       DType::kFloat32, {4});
  ASSERT_EQ(lower_ops(), Ops({"clip", "clip"}));
  EXPECT_EQ(node(0)->attrs.get_float("min"), 0.0);
  EXPECT_EQ(node(0)->attrs.get_float("max"), 6.0);
  EXPECT_EQ(node(1)->attrs.get_float("min"), -1.0);
  EXPECT_TRUE(node(1)->attrs.is_none("max"));
  EXPECT_TRUE(node(1)->attrs.has("max"));
}

TEST_F(ElementwiseTest, ClampWithTensorsIsMaximumThenMinimum) {
  Value* x = input(DType::kFloat32, {2, 4});
  Value* lo = input(DType::kFloat32, {4});
  call("torch.clamp", {{"input", x}, {"min", lo}}, attrs({{"max", 1.0}}), DType::kFloat32, {2, 4});
  EXPECT_EQ(lower_ops(), Ops({"maximum", "clip"}));
  EXPECT_TRUE(node(1)->attrs.is_none("min"));
  EXPECT_EQ(node(1)->attrs.get_float("max"), 1.0);
}

TEST_F(ElementwiseTest, ClampWithoutBoundsIsRefused) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.clamp", {{"input", x}}, attrs({{"min", Attr()}, {"max", Attr()}}), DType::kFloat32,
       {4});
  lower_ops();
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("at least one of 'min' and 'max'"), std::string::npos);
}

TEST_F(ElementwiseTest, HardtanhForReLU6IsClip) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.nn.functional.hardtanh", {{"input", x}},
       attrs({{"min_val", 0.0}, {"max_val", 6.0}, {"inplace", false}}), DType::kFloat32, {4});
  ASSERT_EQ(lower_ops(), Ops({"clip"}));
  EXPECT_EQ(node(0)->attrs.get_float("min"), 0.0);
  EXPECT_EQ(node(0)->attrs.get_float("max"), 6.0);
}

TEST_F(ElementwiseTest, UnaryMathCastsIntInputs) {
  Value* x = input(DType::kInt64, {4});
  call("torch.exp", {{"input", x}}, {}, DType::kFloat32, {4});
  call("torch.Tensor.__neg__", {{"input", x}}, {}, DType::kInt64, {4});
  call("aten.abs.default", {{"input", x}}, {}, DType::kInt64, {4});
  EXPECT_EQ(lower_ops(), Ops({"cast", "exp", "neg", "abs"}));
}

TEST_F(ElementwiseTest, RoundWithDecimalsIsRefused) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.round", {{"input", x}}, attrs({{"decimals", int64_t{0}}}), DType::kFloat32, {4});
  call("torch.round", {{"input", x}}, attrs({{"decimals", int64_t{2}}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"round"}));
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("decimals"), std::string::npos);
}

TEST_F(ElementwiseTest, LeakyReluAndElu) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.nn.functional.leaky_relu", {{"input", x}},
       attrs({{"negative_slope", 0.2}, {"inplace", false}}), DType::kFloat32, {4});
  call("torch.nn.functional.elu", {{"input", x}}, attrs({{"alpha", 0.5}, {"inplace", false}}),
       DType::kFloat32, {4});
  call("aten.elu.default", {{"input", x}},
       attrs({{"alpha", 1.0}, {"scale", 2.0}, {"input_scale", 1.0}}), DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"leaky_relu", "elu"}));
  EXPECT_DOUBLE_EQ(node(0)->attrs.get_float("alpha"), 0.2);
  EXPECT_DOUBLE_EQ(node(1)->attrs.get_float("alpha"), 0.5);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("scale != 1"), std::string::npos);
}

TEST_F(ElementwiseTest, MaximumPromotes) {
  Value* x = input(DType::kInt32, {4});
  Value* y = input(DType::kFloat32, {4});
  call("torch.maximum", {{"input", x}, {"other", y}}, {}, DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"cast", "maximum"}));
}

TEST_F(ElementwiseTest, AtenOverloadsBindSelf) {
  Value* x = input(DType::kFloat32, {4});
  Value* y = input(DType::kFloat32, {4});
  call("aten.add.Tensor", {{"self", x}, {"other", y}}, attrs({{"alpha", int64_t{1}}}),
       DType::kFloat32, {4});
  call("aten.rsub.Scalar", {{"self", x}}, attrs({{"other", int64_t{1}}, {"alpha", int64_t{1}}}),
       DType::kFloat32, {4});
  call("aten.pow.Scalar", {{"exponent", x}}, attrs({{"self", 2.0}}), DType::kFloat32, {4});
  call("aten.exp.default", {{"self", x}}, {}, DType::kFloat32, {4});
  EXPECT_EQ(lower_ops(), Ops({"add", "sub", "pow", "exp"}));
  EXPECT_EQ(node(1)->inputs[1], result_.graph->inputs[0]);
  expect_scalar(node(2)->inputs[0], DType::kFloat32, 2);
}

TEST_F(ElementwiseTest, ReflectedPowBoundAsExponent) {
  // The tracer may match `2 ** x` to pow's signature and bind the 2 as `exponent`.
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.__rpow__", {{"input", x}}, attrs({{"exponent", int64_t{2}}}), DType::kFloat32,
       {4});
  EXPECT_EQ(lower_ops(), Ops({"pow"}));
  expect_scalar(node(0)->inputs[0], DType::kFloat32, 2);
  EXPECT_EQ(node(0)->inputs[1], result_.graph->inputs[0]);
}

TEST_F(ElementwiseTest, EverySpellingIsRegistered) {
  for (const char* op : {"torch.Tensor.__radd__",
                         "torch.Tensor.__iadd__",
                         "torch.Tensor.add_",
                         "aten.add.Tensor",
                         "aten.add_.Tensor",
                         "aten.sub.Tensor",
                         "torch.Tensor.__isub__",
                         "aten.mul.Tensor",
                         "torch.Tensor.__rmul__",
                         "torch.Tensor.mul_",
                         "aten.div.Tensor",
                         "aten.div.Tensor_mode",
                         "torch.Tensor.__rtruediv__",
                         "torch.Tensor.__floordiv__",
                         "torch.Tensor.__rfloordiv__",
                         "torch.floor_divide",
                         "aten.rsub.Scalar",
                         "aten.neg.default",
                         "torch.Tensor.__ipow__",
                         "aten.clamp.default",
                         "aten.clamp.Tensor",
                         "torch.clip",
                         "aten.hardtanh.default",
                         "torch.nn.functional.hardtanh_",
                         "torch.sqrt",
                         "torch.rsqrt",
                         "torch.Tensor.erf",
                         "torch.floor",
                         "torch.ceil",
                         "torch.sin",
                         "torch.cos",
                         "torch.log",
                         "aten.exp.default",
                         "torch.minimum",
                         "aten.leaky_relu.default",
                         "torch.nn.functional.elu_"}) {
    EXPECT_NE(registry_.find(op), nullptr) << op;
  }
}

}  // namespace
}  // namespace ferry
