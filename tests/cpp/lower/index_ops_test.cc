#include <gtest/gtest.h>

#include <algorithm>

#include "lower/indexing.h"
#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class IndexOpsTest : public lower_test::LoweringTest {
 protected:
  Value* int64_constant(Shape shape, std::vector<int64_t> values) {
    auto data = std::make_shared<TensorData>(DType::kInt64, std::move(shape));
    std::copy(values.begin(), values.end(), data->mutable_as<int64_t>());
    return torch_.add_constant(std::move(data), "index");
  }
};

TEST(Indexing, StridesAreRowMajor) {
  EXPECT_EQ(strides_of({2, 3, 4}), Ints({12, 4, 1}));
  EXPECT_EQ(strides_of({5}), Ints({1}));
}

TEST_F(IndexOpsTest, ComputedIndicesAreWrappedAndNarrowedToInt32) {
  Value* x = input(DType::kFloat32, {2, 4, 3});
  Value* i = input(DType::kInt64, {5});
  call("torch.index_select", {{"input", x}, {"index", i}}, attrs({{"dim", int64_t{1}}}),
       DType::kFloat32, {2, 5, 3});
  ASSERT_EQ(lower_ops(), Ops({"cast", "less", "add", "where", "gather"}));
  EXPECT_EQ(node(0)->attrs.get_string("dtype"), "int32");
  EXPECT_EQ(node(4)->attrs.get_int("axis"), 1);
}

TEST_F(IndexOpsTest, ConstantIndicesAreWrappedAtConversionTime) {
  Value* x = input(DType::kFloat32, {4, 3});
  Value* i = int64_constant({2}, {-1, 2});
  call("aten.index_select.default", {{"self", x}, {"index", i}}, attrs({{"dim", int64_t{0}}}),
       DType::kFloat32, {2, 3});
  ASSERT_EQ(lower_ops(), Ops({"gather"}));
  const Value* index = node(0)->inputs[1];
  ASSERT_TRUE(index->is_constant());
  EXPECT_EQ(index->dtype, DType::kInt32);
  EXPECT_EQ(index->constant->as<int32_t>()[0], 3);
  EXPECT_EQ(index->constant->as<int32_t>()[1], 2);
}

TEST_F(IndexOpsTest, ConstantIndicesOutOfRangeAreRefused) {
  Value* x = input(DType::kFloat32, {4, 3});
  Value* i = int64_constant({1}, {4});
  call("aten.index_select.default", {{"self", x}, {"index", i}}, attrs({{"dim", int64_t{0}}}),
       DType::kFloat32, {1, 3});
  lower_ops();
  expect_error("out of range");
}

TEST_F(IndexOpsTest, ReadingThroughABooleanMaskIsRefusedWithTheWayOut) {
  Value* x = input(DType::kFloat32, {3, 4});
  Value* m = input(DType::kBool, {3, 4});
  call("aten.index.Tensor", {{"self", x}, {"indices", m}}, {}, DType::kFloat32, {5});
  lower_ops();
  expect_error("torch.where");
}

TEST_F(IndexOpsTest, MaskWritesAreAWhereNotAScatter) {
  Value* x = input(DType::kFloat32, {3, 4});
  Value* m = input(DType::kBool, {3, 4});
  Value* v = input(DType::kFloat32, {});
  call("aten.index_put_.default", {{"self", x}, {"indices", m}, {"values", v}},
       attrs({{"accumulate", false}}), DType::kFloat32, {3, 4});
  EXPECT_EQ(lower_ops(), Ops({"where"}));
}

TEST_F(IndexOpsTest, ScatterAddIsOneScatterNdAdded) {
  Value* x = input(DType::kFloat32, {2, 5});
  Value* i = input(DType::kInt64, {2, 3});
  Value* s = input(DType::kFloat32, {2, 3});
  call("torch.scatter_add", {{"input", x}, {"index", i}, {"src", s}}, attrs({{"dim", int64_t{1}}}),
       DType::kFloat32, {2, 5});
  const auto ops = lower_ops();
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "scatter_nd"), 1);
  EXPECT_EQ(ops.back(), "add");
}

TEST_F(IndexOpsTest, DiagonalIsAStridedSlice) {
  Value* x = input(DType::kFloat32, {4, 5});
  call("torch.diagonal", {{"input", x}}, attrs({{"offset", int64_t{1}}}), DType::kFloat32, {4});
  ASSERT_EQ(lower_ops(), Ops({"reshape", "slice"}));
  EXPECT_EQ(node(1)->attrs.get_ints("begin"), Ints({1}));
  EXPECT_EQ(node(1)->attrs.get_ints("strides"), Ints({6}));
  EXPECT_EQ(node(1)->attrs.get_ints("end"), Ints({20}));
}

TEST_F(IndexOpsTest, SortOnAnInnerDimMovesItLastAndCastsIndices) {
  Value* x = input(DType::kFloat32, {2, 5, 3});
  call("torch.sort", {{"input", x}}, attrs({{"dim", int64_t{1}}, {"descending", true}}),
       {{DType::kFloat32, {2, 5, 3}}, {DType::kInt64, {2, 5, 3}}});
  ASSERT_EQ(lower_ops(), Ops({"transpose", "top_k", "transpose", "cast", "transpose"}));
  EXPECT_EQ(node(1)->attrs.get_int("k"), 5);
  EXPECT_EQ(node(1)->outputs[1]->dtype, DType::kInt32);
  EXPECT_EQ(node(3)->attrs.get_string("dtype"), "int64");
}

TEST_F(IndexOpsTest, AscendingSortOrdersNegatedValues) {
  Value* x = input(DType::kInt32, {6});
  call("aten.sort.default", {{"self", x}}, {}, {{DType::kInt32, {6}}, {DType::kInt64, {6}}});
  // Integers: -x - 1 (no overflow at the type's minimum), undone on the values.
  EXPECT_EQ(lower_ops(), Ops({"neg", "sub", "top_k", "neg", "sub", "cast"}));
}

TEST_F(IndexOpsTest, UnsortedTopkIsRefused) {
  Value* x = input(DType::kFloat32, {6});
  call("torch.topk", {{"input", x}}, attrs({{"k", int64_t{2}}, {"sorted", false}}),
       {{DType::kFloat32, {2}}, {DType::kInt64, {2}}});
  lower_ops();
  expect_error("sorted=True");
}

}  // namespace
}  // namespace ferry
