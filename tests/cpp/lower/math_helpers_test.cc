#include <gtest/gtest.h>

#include "lower/helpers.h"
#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

TEST(MathHelpers, NormalizedShiftWrapsBothWays) {
  EXPECT_EQ(normalized_shift(1, 5), 1);
  EXPECT_EQ(normalized_shift(5, 5), 0);
  EXPECT_EQ(normalized_shift(7, 5), 2);
  EXPECT_EQ(normalized_shift(-1, 5), 4);
  EXPECT_EQ(normalized_shift(-12, 5), 3);
  EXPECT_EQ(normalized_shift(3, 0), 0);  // an empty dim has nothing to move
}

TEST(MathHelpers, TriangleMaskFollowsTheDiagonalOffset) {
  // tril, diagonal 0 on 2x3: j <= i.
  EXPECT_EQ(triangle_mask(2, 3, 0, false), (std::vector<uint8_t>{1, 0, 0, 1, 1, 0}));
  // tril, diagonal 1: j <= i + 1.
  EXPECT_EQ(triangle_mask(2, 3, 1, false), (std::vector<uint8_t>{1, 1, 0, 1, 1, 1}));
  // triu, diagonal -1 on 3x2: j >= i - 1.
  EXPECT_EQ(triangle_mask(3, 2, -1, true), (std::vector<uint8_t>{1, 1, 1, 1, 0, 1}));
  // triu, diagonal 5: nothing kept.
  EXPECT_EQ(triangle_mask(2, 2, 5, true), (std::vector<uint8_t>{0, 0, 0, 0}));
}

TEST(MathHelpers, ReductionAxesAreSortedUniqueAndDefaultToAll) {
  EXPECT_EQ(reduction_axes(attrs({{"dim", Ints{-1, 1}}}), 4), Ints({1, 3}));
  EXPECT_EQ(reduction_axes(attrs({{"dim", int64_t{-2}}}), 3), Ints({1}));
  EXPECT_EQ(reduction_axes(attrs({{"dim", Attr()}}), 3), Ints({0, 1, 2}));
  EXPECT_EQ(reduction_axes(attrs({{"dim", Ints{}}}), 2), Ints({0, 1}));
  EXPECT_EQ(reduction_axes(Attrs(), 2), Ints({0, 1}));
  EXPECT_THROW(reduction_axes(attrs({{"dim", Ints{0, -3}}}), 3), LowerError);
}

TEST(MathHelpers, ReducedShapeDropsOrKeepsAxes) {
  EXPECT_EQ(reduced_shape({2, 3, 4, 5}, {1, 3}, false), Shape({2, 4}));
  EXPECT_EQ(reduced_shape({2, 3, 4, 5}, {1, 3}, true), Shape({2, 1, 4, 1}));
  EXPECT_EQ(reduced_shape({2, 3}, {0, 1}, false), Shape({}));
}

class MathRulesTest : public LoweringTest {};

TEST_F(MathRulesTest, FmodIsFloorModOfMagnitudesWithTheDividendsSign) {
  Value* a = input(DType::kInt64, {2, 3});
  Value* b = input(DType::kInt64, {2, 3});
  call("torch.fmod", {{"input", a}, {"other", b}}, {}, DType::kInt64, {2, 3});
  EXPECT_EQ(lower_ops(),
            Ops({"less", "less", "neg", "where", "neg", "where", "floor_mod", "neg", "where"}));
}

TEST_F(MathRulesTest, CumprodIsALogDepthScan) {
  Value* x = input(DType::kFloat32, {2, 5});
  call("torch.cumprod", {{"input", x}}, attrs({{"dim", int64_t{1}}, {"dtype", Attr()}}),
       DType::kFloat32, {2, 5});
  // Offsets 1, 2, 4: three slice + concat + mul steps.
  EXPECT_EQ(lower_ops(),
            Ops({"slice", "concat", "mul", "slice", "concat", "mul", "slice", "concat", "mul"}));
}

TEST_F(MathRulesTest, FlipDropsUnitDimsAndRefusesRepeats) {
  Value* x = input(DType::kFloat32, {2, 1, 4});
  call("torch.flip", {{"input", x}}, attrs({{"dims", Ints{-1, 1, 0}}}), DType::kFloat32, {2, 1, 4});
  ASSERT_EQ(lower_ops(), Ops({"reverse"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({0, 2}));
}

TEST_F(MathRulesTest, RollWithoutDimsRollsTheFlattenedTensor) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.roll", {{"input", x}}, attrs({{"shifts", Ints{-4}}, {"dims", Ints{}}}),
       DType::kFloat32, {2, 3});
  EXPECT_EQ(lower_ops(), Ops({"reshape", "slice", "slice", "concat", "reshape"}));
}

TEST_F(MathRulesTest, VarDividesByTheCorrectedCount) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("aten.var.correction", {{"self", x}},
       attrs({{"dim", Ints{1, 2}}, {"correction", int64_t{2}}, {"keepdim", false}}),
       DType::kFloat32, {2});
  ASSERT_EQ(lower_ops(), Ops({"mean", "sub", "mul", "sum", "div"}));
  const Value* divisor = node(4)->inputs[1];
  ASSERT_TRUE(divisor->is_constant());
  EXPECT_EQ(divisor->constant->scalar_at(0), 10.0);
}

TEST_F(MathRulesTest, MatrixNormsAreRefusedByName) {
  Value* x = input(DType::kFloat32, {3, 3});
  call("torch.norm", {{"input", x}}, attrs({{"p", std::string("nuc")}}), DType::kFloat32, {});
  lower_ops();
  expect_error("p='nuc'");
}

}  // namespace
}  // namespace ferry
