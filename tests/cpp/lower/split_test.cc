#include <gtest/gtest.h>

#include "lower/helpers.h"
#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class SplitTest : public lower_test::LoweringTest {
 protected:
  Ints begin(size_t i) const { return node(i)->attrs.get_ints("begin"); }
  Ints end(size_t i) const { return node(i)->attrs.get_ints("end"); }
};

TEST(SplitSizes, FullPiecesAndAShorterLastOne) {
  EXPECT_EQ(split_sizes(7, 3), Ints({3, 3, 1}));
  EXPECT_EQ(split_sizes(6, 3), Ints({3, 3}));
  EXPECT_EQ(split_sizes(2, 5), Ints({2}));
  EXPECT_EQ(split_sizes(0, 2), Ints({0}));
  EXPECT_THROW(split_sizes(4, 0), LowerError);
}

TEST(SplitSizes, ChunkUsesTheCeilingAndMayReturnFewerPieces) {
  EXPECT_EQ(chunk_sizes(5, 3), Ints({2, 2, 1}));
  EXPECT_EQ(chunk_sizes(6, 4), Ints({2, 2, 2}));
  EXPECT_EQ(chunk_sizes(2, 4), Ints({1, 1}));
  EXPECT_EQ(chunk_sizes(0, 3), Ints({0, 0, 0}));
  EXPECT_THROW(chunk_sizes(4, 0), LowerError);
}

TEST(SplitSizes, OffsetsMustCoverTheDim) {
  EXPECT_EQ(piece_offsets({2, 0, 3}, 5), Ints({0, 2, 2}));
  EXPECT_THROW(piece_offsets({2, 2}, 5), LowerError);
  EXPECT_EQ(unsqueezed({2, 3}, 2), Shape({2, 3, 1}));
}

TEST_F(SplitTest, SplitByAnIntSliceEachPieceAlongTheDim) {
  Value* x = input(DType::kFloat32, {2, 7, 4});
  call("torch.Tensor.split", {{"tensor", x}},
       attrs({{"split_size_or_sections", int64_t{3}}, {"dim", int64_t{-2}}}),
       {{DType::kFloat32, {2, 3, 4}}, {DType::kFloat32, {2, 3, 4}}, {DType::kFloat32, {2, 1, 4}}});
  ASSERT_EQ(lower_ops(), Ops({"slice", "slice", "slice"}));
  EXPECT_EQ(begin(1), Ints({0, 3, 0}));
  EXPECT_EQ(end(1), Ints({2, 6, 4}));
  EXPECT_EQ(begin(2), Ints({0, 6, 0}));
  EXPECT_EQ(end(2), Ints({2, 7, 4}));
  EXPECT_EQ(node(2)->attrs.get_ints("strides"), Ints({1, 1, 1}));
}

TEST_F(SplitTest, SplitWithSizesAcceptsEmptyPiecesAndAOneElementList) {
  Value* x = input(DType::kFloat32, {5, 2});
  call("aten.split_with_sizes.default", {{"self", x}},
       attrs({{"split_sizes", Ints{1, 0, 4}}, {"dim", int64_t{0}}}),
       {{DType::kFloat32, {1, 2}}, {DType::kFloat32, {0, 2}}, {DType::kFloat32, {4, 2}}});
  // A list of one size is the whole tensor, not pieces of that size.
  call("torch.split", {{"tensor", x}}, attrs({{"split_size_or_sections", Ints{5}}}),
       {{DType::kFloat32, {5, 2}}});
  ASSERT_EQ(lower_ops(), Ops({"slice", "slice", "slice", "identity"}));
  EXPECT_EQ(begin(2), Ints({1, 0}));
  EXPECT_EQ(end(2), Ints({5, 2}));
}

TEST_F(SplitTest, SplitSizesThatDoNotCoverTheDimAreRefused) {
  Value* x = input(DType::kFloat32, {5});
  call("aten.split_with_sizes.default", {{"self", x}}, attrs({{"split_sizes", Ints{2, 2}}}),
       {{DType::kFloat32, {2}}, {DType::kFloat32, {2}}});
  lower_ops();
  expect_error("add up to 4");
}

TEST_F(SplitTest, ChunkHasAShorterLastPiece) {
  Value* x = input(DType::kFloat32, {1, 5});
  call("torch.chunk", {{"input", x}}, attrs({{"chunks", int64_t{3}}, {"dim", int64_t{1}}}),
       {{DType::kFloat32, {1, 2}}, {DType::kFloat32, {1, 2}}, {DType::kFloat32, {1, 1}}});
  ASSERT_EQ(lower_ops(), Ops({"slice", "slice", "slice"}));
  EXPECT_EQ(begin(2), Ints({0, 4}));
  EXPECT_EQ(end(2), Ints({1, 5}));
}

TEST_F(SplitTest, ChunkCountDisagreeingWithTheRecordedOutputsIsRefused) {
  Value* x = input(DType::kFloat32, {6});
  call("aten.chunk.default", {{"self", x}}, attrs({{"chunks", int64_t{4}}}),
       {{DType::kFloat32, {2}}, {DType::kFloat32, {2}}});
  lower_ops();
  expect_error("returned 2 tensors");
}

TEST_F(SplitTest, UnbindSlicesAndDropsTheDim) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("torch.Tensor.unbind", {{"input", x}}, attrs({{"dim", int64_t{-1}}}),
       {{DType::kFloat32, {2, 3}},
        {DType::kFloat32, {2, 3}},
        {DType::kFloat32, {2, 3}},
        {DType::kFloat32, {2, 3}}});
  const Ops ops = lower_ops();
  ASSERT_EQ(ops.size(), 8u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ops[2 * i], "slice");
    EXPECT_EQ(ops[2 * i + 1], "reshape");
    EXPECT_EQ(begin(2 * i), Ints({0, 0, static_cast<int64_t>(i)}));
    EXPECT_EQ(node(2 * i + 1)->attrs.get_ints("shape"), Ints({2, 3}));
  }
}

TEST_F(SplitTest, StackUnsqueezesEachOperandAndConcatenates) {
  Value* a = input(DType::kFloat32, {2, 3});
  Value* b = input(DType::kInt64, {2, 3});
  call("torch.stack", {{"tensors", a}, {"tensors", b}}, attrs({{"dim", int64_t{-1}}}),
       DType::kFloat32, {2, 3, 2});
  ASSERT_EQ(lower_ops(), Ops({"reshape", "cast", "reshape", "concat"}));
  EXPECT_EQ(node(0)->attrs.get_ints("shape"), Ints({2, 3, 1}));
  EXPECT_EQ(node(3)->attrs.get_int("axis"), 2);
  EXPECT_EQ(node(3)->outputs[0]->shape, Shape({2, 3, 2}));
}

TEST_F(SplitTest, StackOfOneTensorIsAReshape) {
  Value* a = input(DType::kFloat32, {4});
  call("aten.stack.default", {{"tensors", a}}, attrs({{"dim", int64_t{0}}}), DType::kFloat32,
       {1, 4});
  ASSERT_EQ(lower_ops(), Ops({"reshape"}));
  EXPECT_EQ(output()->shape, Shape({1, 4}));
}

}  // namespace
}  // namespace ferry
