// slice_update in writer_ops_region.cc: unit-stride STRIDED_SLICE, RESHAPE and CONCATENATION
// up to rank 5 (what XNNPACK runs), GATHER + SELECT_V2 / DYNAMIC_UPDATE_SLICE at rank 6.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

using Ints = std::vector<int64_t>;
using Names = std::vector<std::string>;

Attrs region(Ints begin, Ints end, Ints strides) {
  Attrs a;
  a.set("begin", begin);
  a.set("end", end);
  a.set("strides", strides);
  return a;
}

// Every STRIDED_SLICE steps by 1: XNNPACK takes no other stride.
void expect_unit_strides(const Written& w) {
  for (const auto& op : w.info.ops) {
    if (op.name != "STRIDED_SLICE") continue;
    for (int32_t s : w.int32_data(op.inputs[3])) EXPECT_EQ(s, 1);
  }
}

TEST(TfliteWriterRegion, StridedColumnsInterleaveThroughAStepAxis) {
  // Columns 1, 3, 5 of 6: the last written column has no whole group after it, so it stands
  // alone; columns 1 and 3 are column 0 of the [2, 2, 2, 1] view of columns 1..4.
  Graph g;
  Written w = write(g, tiny_op(g, "slice_update", {input(g, {2, 6}), input(g, {2, 3})}, {2, 6},
                               region({0, 1}, {2, 6}, {1, 2})));
  EXPECT_EQ(w.names(),
            (Names{"STRIDED_SLICE", "STRIDED_SLICE", "RESHAPE", "STRIDED_SLICE", "RESHAPE",
                   "STRIDED_SLICE", "CONCATENATION", "RESHAPE", "STRIDED_SLICE", "CONCATENATION"}));
  expect_unit_strides(w);
  EXPECT_EQ(w.info.tensors[w.info.ops[2].outputs[0]].shape, (std::vector<int32_t>{2, 2, 2, 1}));
  EXPECT_EQ(w.op(6)->builtin_options_as_ConcatenationOptions()->axis(), 2);
  EXPECT_EQ(w.op(9)->builtin_options_as_ConcatenationOptions()->axis(), 1);
}

TEST(TfliteWriterRegion, WholeGroupsToTheEndNeedNoTail) {
  // Columns 0, 2, 4 of 6: one [1, 3, 2, 1] view, its column 0 replaced, reshaped into the output.
  Graph g;
  Written w = write(g, tiny_op(g, "slice_update", {input(g, {1, 6}), input(g, {1, 3})}, {1, 6},
                               region({0, 0}, {1, 6}, {1, 2})));
  EXPECT_EQ(w.names(), (Names{"RESHAPE", "RESHAPE", "STRIDED_SLICE", "CONCATENATION", "RESHAPE"}));
  EXPECT_EQ(w.count("GATHER") + w.count("SELECT_V2"), 0u);
}

TEST(TfliteWriterRegion, ContiguousRegionIsSlicesAndConcatenations) {
  Graph g;
  Written w = write(g, tiny_op(g, "slice_update", {input(g, {2, 6}), input(g, {2, 3})}, {2, 6},
                               region({0, 1}, {2, 4}, {1, 1})));
  EXPECT_EQ(w.names(), (Names{"STRIDED_SLICE", "STRIDED_SLICE", "CONCATENATION"}));
  expect_unit_strides(w);
}

TEST(TfliteWriterRegion, SeveralPartlyWrittenAxesNest) {
  // Rows 1..2, every third column from 0: the rows are cut out, their columns rebuilt, and
  // the rows put back; no op sees more than 4 dimensions.
  Graph g;
  Written w = write(g, tiny_op(g, "slice_update", {input(g, {2, 4, 9}), input(g, {2, 2, 3})},
                               {2, 4, 9}, region({0, 1, 0}, {2, 3, 9}, {1, 1, 3})));
  EXPECT_EQ(w.count("CONCATENATION"), 2u);
  EXPECT_EQ(w.count("GATHER") + w.count("SELECT_V2") + w.count("DYNAMIC_UPDATE_SLICE"), 0u);
  expect_unit_strides(w);
  for (const auto& t : w.info.tensors) EXPECT_LE(t.shape.size(), 4u);
}

TEST(TfliteWriterRegion, NothingWrittenIsACopy) {
  Graph g;
  Written w = write(g, tiny_op(g, "slice_update", {input(g, {2, 6}), input(g, {2, 0})}, {2, 6},
                               region({0, 6}, {2, 6}, {1, 2})));
  EXPECT_EQ(w.names(), (Names{"RESHAPE"}));
}

TEST(TfliteWriterRegion, RankSixGathersAndSelects) {
  // STRIDED_SLICE stops at rank 5.
  Graph g;
  Shape xs{1, 1, 1, 1, 2, 6}, us{1, 1, 1, 1, 2, 3};
  Written w = write(g, tiny_op(g, "slice_update", {input(g, xs), input(g, us)}, xs,
                               region({0, 0, 0, 0, 0, 1}, {1, 1, 1, 1, 2, 6}, {1, 1, 1, 1, 1, 2})));
  ASSERT_EQ(w.names(), (Names{"GATHER", "SELECT_V2"}));
  EXPECT_EQ(w.op(0)->builtin_options_as_GatherOptions()->axis(), 5);
  // Output column j takes update column (j - 1) / 2, clamped; only odd columns are written.
  EXPECT_EQ(w.int32_data(w.info.ops[0].inputs[1]), (std::vector<int32_t>{0, 0, 0, 1, 1, 2}));
  const int mask = w.info.ops[1].inputs[0];
  EXPECT_EQ(w.data<uint8_t>(mask), (std::vector<uint8_t>{0, 1, 0, 1, 0, 1}));

  Graph gc;
  Written c = write(gc, tiny_op(gc, "slice_update", {input(gc, xs), input(gc, us)}, xs,
                                region({0, 0, 0, 0, 0, 1}, {1, 1, 1, 1, 2, 4}, Ints(6, 1))));
  ASSERT_EQ(c.names(), (Names{"DYNAMIC_UPDATE_SLICE"}));
  EXPECT_EQ(c.int32_data(c.info.ops[0].inputs[2]), (std::vector<int32_t>{0, 0, 0, 0, 0, 1}));
}

TEST(TfliteWriterRegion, AMismatchedUpdateIsRefused) {
  Graph g;
  EXPECT_THROW(write(g, tiny_op(g, "slice_update", {input(g, {2, 6}), input(g, {2, 2})}, {2, 6},
                                region({0, 1}, {2, 6}, {1, 2}))),
               TfliteError);
}

}  // namespace
}  // namespace ferry::tflite
