#include <gtest/gtest.h>

#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class ShapeTest : public lower_test::LoweringTest {};

TEST_F(ShapeTest, ViewAndFlattenReshapeToTheRecordedShape) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("torch.Tensor.view", {{"input", x}}, attrs({{"size", Ints{2, -1}}}), DType::kFloat32,
       {2, 12});
  call("torch.flatten", {{"input", x}},
       attrs({{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}}), DType::kFloat32, {2, 12});
  call("aten.unsqueeze.default", {{"input", x}}, attrs({{"dim", int64_t{0}}}), DType::kFloat32,
       {1, 2, 3, 4});
  ASSERT_EQ(lower_ops(), Ops({"reshape", "reshape", "reshape"}));
  EXPECT_EQ(node(0)->attrs.get_ints("shape"), Ints({2, 12}));
  EXPECT_EQ(node(2)->attrs.get_ints("shape"), Ints({1, 2, 3, 4}));
  EXPECT_EQ(node(2)->outputs[0]->shape, Shape({1, 2, 3, 4}));
}

TEST_F(ShapeTest, UnchangedShapeIsIdentity) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.Tensor.contiguous", {{"input", x}}, {}, DType::kFloat32, {2, 3});
  call("aten.clone.default", {{"input", x}}, {}, DType::kFloat32, {2, 3});
  EXPECT_EQ(lower_ops(), Ops({"identity", "identity"}));
}

TEST_F(ShapeTest, CallThatReturnedItsInputNeedsNothing) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.Tensor.contiguous", {{"input", x}}, {}, DType::kFloat32, {}, true);
  call("torch.Tensor.float", {{"input", x}}, {}, DType::kFloat32, {}, true);
  EXPECT_EQ(lower_ops(), Ops{});
  EXPECT_TRUE(errors_.empty());
}

TEST_F(ShapeTest, ViewAsAnotherDtypeIsRefused) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.view", {{"input", x}}, {}, DType::kInt32, {4});
  lower_ops();
  expect_error("bitcast");
}

TEST_F(ShapeTest, PermuteNormalizesNegativeDims) {
  Value* x = input(DType::kFloat32, {1, 3, 8, 8});
  call("torch.Tensor.permute", {{"input", x}}, attrs({{"dims", Ints{0, 2, -1, 1}}}),
       DType::kFloat32, {1, 8, 8, 3});
  ASSERT_EQ(lower_ops(), Ops({"transpose"}));
  EXPECT_EQ(node(0)->attrs.get_ints("perm"), Ints({0, 2, 3, 1}));
}

TEST_F(ShapeTest, PermuteWithARepeatedDimIsRefused) {
  Value* x = input(DType::kFloat32, {2, 3});
  call("torch.permute", {{"input", x}}, attrs({{"dims", Ints{0, 0}}}), DType::kFloat32, {2, 2});
  lower_ops();
  expect_error("permutation");
}

TEST_F(ShapeTest, TransposeSwapsTwoDims) {
  Value* x = input(DType::kFloat32, {2, 3, 4, 5});
  call("torch.transpose", {{"input", x}}, attrs({{"dim0", int64_t{1}}, {"dim1", int64_t{-1}}}),
       DType::kFloat32, {2, 5, 4, 3});
  call("aten.transpose.int", {{"input", x}}, attrs({{"dim0", int64_t{2}}, {"dim1", int64_t{2}}}),
       DType::kFloat32, {2, 3, 4, 5});
  call("torch.swapaxes", {{"input", x}}, attrs({{"axis0", int64_t{0}}, {"axis1", int64_t{1}}}),
       DType::kFloat32, {3, 2, 4, 5});
  ASSERT_EQ(lower_ops(), Ops({"transpose", "identity", "transpose"}));
  EXPECT_EQ(node(0)->attrs.get_ints("perm"), Ints({0, 3, 2, 1}));
  EXPECT_EQ(node(2)->attrs.get_ints("perm"), Ints({1, 0, 2, 3}));
}

TEST_F(ShapeTest, MatrixTransposes) {
  Value* v = input(DType::kFloat32, {5});
  Value* m = input(DType::kFloat32, {2, 3, 4});
  call("torch.Tensor.t", {{"input", v}}, {}, DType::kFloat32, {5});
  call("torch.Tensor.T", {{"input", m}}, {}, DType::kFloat32, {4, 3, 2});
  call("torch.Tensor.mT", {{"input", m}}, {}, DType::kFloat32, {2, 4, 3});
  ASSERT_EQ(lower_ops(), Ops({"identity", "transpose", "transpose"}));
  EXPECT_EQ(node(1)->attrs.get_ints("perm"), Ints({2, 1, 0}));
  EXPECT_EQ(node(2)->attrs.get_ints("perm"), Ints({0, 2, 1}));
}

TEST_F(ShapeTest, MovedimPlacesSourcesAtDestinations) {
  Value* x = input(DType::kFloat32, {2, 3, 4, 5});
  call("torch.movedim", {{"input", x}},
       attrs({{"source", int64_t{1}}, {"destination", int64_t{-1}}}), DType::kFloat32,
       {2, 4, 5, 3});
  call("torch.Tensor.movedim", {{"input", x}},
       attrs({{"source", Ints{0, 1}}, {"destination", Ints{3, 0}}}), DType::kFloat32, {3, 4, 5, 2});
  ASSERT_EQ(lower_ops(), Ops({"transpose", "transpose"}));
  EXPECT_EQ(node(0)->attrs.get_ints("perm"), Ints({0, 2, 3, 1}));
  EXPECT_EQ(node(1)->attrs.get_ints("perm"), Ints({1, 2, 3, 0}));
}

TEST_F(ShapeTest, CastsToTheRecordedDtype) {
  Value* x = input(DType::kFloat32, {4});
  call("torch.Tensor.to", {{"input", x}}, attrs({{"dtype", std::string("float16")}}),
       DType::kFloat16, {4});
  call("torch.Tensor.to", {{"input", x}}, attrs({{"device", std::string("cpu")}}), DType::kFloat32,
       {4});
  call("aten._to_copy.default", {{"input", x}}, {}, DType::kInt64, {4});
  ASSERT_EQ(lower_ops(), Ops({"cast", "identity", "cast"}));
  EXPECT_EQ(node(0)->attrs.get_string("dtype"), "float16");
  EXPECT_EQ(node(2)->attrs.get_string("dtype"), "int64");
  EXPECT_EQ(node(2)->outputs[0]->dtype, DType::kInt64);
}

TEST_F(ShapeTest, ExpandBroadcastsAtTheResultRank) {
  Value* x = input(DType::kFloat32, {2, 1});
  call("aten.expand.default", {{"input", x}}, attrs({{"size", Ints{2, 1}}}), DType::kFloat32,
       {2, 1});
  call("aten.expand.default", {{"input", x}}, attrs({{"size", Ints{3, 2, 5}}}), DType::kFloat32,
       {3, 2, 5});
  // A new leading dim arrives as a unit dim first, so operand and result share a rank.
  EXPECT_EQ(lower_ops(), Ops({"identity", "reshape", "broadcast_to"}));
  EXPECT_EQ(node(2)->attrs.get_ints("shape"), (Ints{3, 2, 5}));
}

TEST_F(ShapeTest, ArgumentSpellingsOfEveryTracerPath) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("aten.permute.default", {{"self", x}}, attrs({{"dims", Ints{2, 0, 1}}}), DType::kFloat32,
       {4, 2, 3});
  call("torch.permute", {{"input", x}}, attrs({{"dim", Ints{1, 0, 2}}}), DType::kFloat32,
       {3, 2, 4});
  call("torch.Tensor.T.__get__", {{"input", x}}, {}, DType::kFloat32, {4, 3, 2});
  call("torch.Tensor.mT.__get__", {{"input", x}}, {}, DType::kFloat32, {2, 4, 3});
  call("torch.Tensor.unflatten", {{"arg0", x}}, attrs({{"arg1", int64_t{2}}, {"arg2", Ints{2, 2}}}),
       DType::kFloat32, {2, 3, 2, 2});
  ASSERT_EQ(lower_ops(), Ops({"transpose", "transpose", "transpose", "transpose", "reshape"}));
  EXPECT_EQ(node(0)->attrs.get_ints("perm"), Ints({2, 0, 1}));
  EXPECT_EQ(node(1)->attrs.get_ints("perm"), Ints({1, 0, 2}));
  EXPECT_EQ(node(2)->attrs.get_ints("perm"), Ints({2, 1, 0}));
  EXPECT_EQ(node(3)->attrs.get_ints("perm"), Ints({0, 2, 1}));
}

TEST_F(ShapeTest, EverySpellingIsRegistered) {
  for (const char* op :
       {"torch.reshape", "torch.Tensor.reshape", "aten.view.default", "aten._unsafe_view.default",
        "torch.Tensor.flatten", "torch.unflatten", "torch.squeeze", "aten.squeeze.dim",
        "torch.Tensor.unsqueeze", "torch.Tensor.detach", "aten.alias.default",
        "aten.contiguous.default", "aten.permute.default", "aten.t.default", "torch.Tensor.type",
        "torch.Tensor.half", "torch.Tensor.long", "torch.Tensor.type_as"}) {
    EXPECT_NE(registry_.find(op), nullptr) << op;
  }
}

// Indexing, slicing and cat (cpp/lower/index.cc).

TEST_F(ShapeTest, GetitemWithIntIndexSlicesThenReshapes) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("torch.Tensor.__getitem__", {{"input", x}},
       attrs({{"begin", Ints{0, 1, 0}},
              {"end", Ints{2, 2, 4}},
              {"step", Ints{1, 1, 1}},
              {"squeeze_dims", Ints{1}}}),
       DType::kFloat32, {2, 4});
  ASSERT_EQ(lower_ops(), Ops({"slice", "reshape"}));
  EXPECT_EQ(node(0)->attrs.get_ints("begin"), Ints({0, 1, 0}));
  EXPECT_EQ(node(0)->attrs.get_ints("end"), Ints({2, 2, 4}));
  EXPECT_EQ(node(0)->attrs.get_ints("strides"), Ints({1, 1, 1}));
  EXPECT_EQ(node(0)->outputs[0]->shape, Shape({2, 1, 4}));
  EXPECT_EQ(node(1)->attrs.get_ints("shape"), Ints({2, 4}));
}

TEST_F(ShapeTest, GetitemForms) {
  Value* x = input(DType::kFloat32, {2, 5});
  // x[:, ::2]: a strided slice, no reshape.
  call("torch.Tensor.__getitem__", {{"input", x}},
       attrs({{"begin", Ints{0, 0}}, {"end", Ints{2, 5}}, {"step", Ints{1, 2}}}), DType::kFloat32,
       {2, 3});
  // x[None]: only a reshape.
  call("torch.Tensor.__getitem__", {{"input", x}},
       attrs({{"begin", Ints{0, 0}}, {"end", Ints{2, 5}}, {"step", Ints{1, 1}}}), DType::kFloat32,
       {1, 2, 5});
  // x[:]: an identity.
  call("torch.Tensor.__getitem__", {{"input", x}},
       attrs({{"begin", Ints{0, 0}}, {"end", Ints{2, 5}}, {"step", Ints{1, 1}}}), DType::kFloat32,
       {2, 5});
  ASSERT_EQ(lower_ops(), Ops({"slice", "reshape", "identity"}));
  EXPECT_EQ(node(0)->outputs[0]->shape, Shape({2, 3}));
}

TEST_F(ShapeTest, GetitemWithATensorIndexIsRefused) {
  Value* x = input(DType::kFloat32, {4, 3});
  Value* i = input(DType::kInt64, {2});
  call("torch.Tensor.__getitem__", {{"input", x}, {"index", i}}, {}, DType::kFloat32, {2, 3});
  lower_ops();
  expect_error("indexing with a tensor (advanced indexing) is not supported yet");
}

TEST_F(ShapeTest, AtenSliceNormalizesBounds) {
  Value* x = input(DType::kFloat32, {2, 10});
  call("aten.slice.Tensor", {{"input", x}},
       attrs({{"dim", int64_t{-1}},
              {"start", int64_t{-3}},
              {"end", int64_t{9223372036854775807}},
              {"step", int64_t{1}}}),
       DType::kFloat32, {2, 3});
  call("aten.slice.Tensor", {{"input", x}},
       attrs({{"dim", int64_t{1}}, {"start", Attr()}, {"end", int64_t{-8}}, {"step", int64_t{2}}}),
       DType::kFloat32, {2, 1});
  call("aten.slice.Tensor", {{"input", x}},
       attrs({{"dim", int64_t{0}}, {"start", int64_t{0}}, {"end", Attr()}, {"step", int64_t{1}}}),
       DType::kFloat32, {2, 10});
  ASSERT_EQ(lower_ops(), Ops({"slice", "slice", "identity"}));
  EXPECT_EQ(node(0)->attrs.get_ints("begin"), Ints({0, 7}));
  EXPECT_EQ(node(0)->attrs.get_ints("end"), Ints({2, 10}));
  EXPECT_EQ(node(1)->attrs.get_ints("begin"), Ints({0, 0}));
  EXPECT_EQ(node(1)->attrs.get_ints("end"), Ints({2, 2}));
  EXPECT_EQ(node(1)->attrs.get_ints("strides"), Ints({1, 2}));
}

TEST_F(ShapeTest, SelectAndNarrow) {
  Value* x = input(DType::kFloat32, {2, 3, 4});
  call("aten.select.int", {{"input", x}}, attrs({{"dim", int64_t{1}}, {"index", int64_t{-1}}}),
       DType::kFloat32, {2, 4});
  call("torch.narrow", {{"input", x}},
       attrs({{"dim", int64_t{2}}, {"start", int64_t{1}}, {"length", int64_t{2}}}), DType::kFloat32,
       {2, 3, 2});
  call("aten.select.int", {{"input", x}}, attrs({{"dim", int64_t{0}}, {"index", int64_t{2}}}),
       DType::kFloat32, {3, 4});
  ASSERT_EQ(lower_ops(), Ops({"slice", "reshape", "slice"}));
  EXPECT_EQ(node(0)->attrs.get_ints("begin"), Ints({0, 2, 0}));
  EXPECT_EQ(node(0)->attrs.get_ints("end"), Ints({2, 3, 4}));
  EXPECT_EQ(node(2)->attrs.get_ints("begin"), Ints({0, 0, 1}));
  EXPECT_EQ(node(2)->attrs.get_ints("end"), Ints({2, 3, 3}));
  expect_error("out of range");
}

TEST_F(ShapeTest, CatNormalizesDimAndPromotes) {
  Value* a = input(DType::kFloat32, {2, 3});
  Value* b = input(DType::kInt64, {2, 5});
  Value* empty = input(DType::kFloat32, {0});
  call("torch.cat", {{"tensors", a}, {"tensors", b}, {"tensors", empty}},
       attrs({{"dim", int64_t{-1}}}), DType::kFloat32, {2, 8});
  ASSERT_EQ(lower_ops(), Ops({"cast", "concat"}));
  EXPECT_EQ(node(1)->attrs.get_int("axis"), 1);
  ASSERT_EQ(node(1)->inputs.size(), 2u);
  EXPECT_EQ(node(1)->inputs[1], node(0)->outputs[0]);
}

TEST_F(ShapeTest, ConcatenateTakesAxis) {
  Value* a = input(DType::kFloat32, {2, 3});
  Value* b = input(DType::kFloat32, {4, 3});
  call("torch.concatenate", {{"tensors", a}, {"tensors", b}}, attrs({{"axis", int64_t{0}}}),
       DType::kFloat32, {6, 3});
  call("aten.cat.default", {{"tensors", a}}, attrs({{"dim", int64_t{0}}}), DType::kFloat32, {2, 3});
  ASSERT_EQ(lower_ops(), Ops({"concat", "identity"}));
  EXPECT_EQ(node(0)->attrs.get_int("axis"), 0);
}

TEST_F(ShapeTest, PadListsPairsFromTheLastDimBackwards) {
  Value* x = input(DType::kFloat32, {1, 3, 8, 8});
  call("torch.nn.functional.pad", {{"input", x}},
       attrs({{"pad", Ints{1, 2, 0, -1}}, {"mode", std::string("constant")}, {"value", 0.5}}),
       DType::kFloat32, {1, 3, 7, 11});
  // The negative pad crops: a slice after the (non-negative) pad.
  EXPECT_EQ(lower_ops(), (Ops{"pad", "slice"}));
  EXPECT_EQ(node(0)->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 0, 0, 1, 2}));
  EXPECT_EQ(node(0)->attrs.get_string("mode"), "CONSTANT");
  EXPECT_EQ(node(0)->attrs.get_float("value"), 0.5);
  EXPECT_EQ(node(1)->attrs.get_ints("end"), (Ints{1, 3, 7, 11}));
}

TEST_F(ShapeTest, ReflectionPadBecomesReflect) {
  Value* x = input(DType::kFloat32, {1, 3, 8});
  call("aten.reflection_pad1d.default", {{"self", x}}, attrs({{"padding", Ints{2, 1}}}),
       DType::kFloat32, {1, 3, 11});
  EXPECT_EQ(lower_ops(), (Ops{"pad"}));
  EXPECT_EQ(node(0)->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 2, 1}));
  EXPECT_EQ(node(0)->attrs.get_string("mode"), "REFLECT");
}

TEST_F(ShapeTest, PadWithReplicateBecomesReplicate) {
  Value* x = input(DType::kFloat32, {1, 3, 8});
  call("torch.nn.functional.pad", {{"input", x}},
       attrs({{"pad", Ints{1, 1}}, {"mode", std::string("replicate")}, {"value", Attr{}}}),
       DType::kFloat32, {1, 3, 10});
  EXPECT_EQ(lower_ops(), (Ops{"pad"}));
  EXPECT_EQ(node(0)->attrs.get_string("mode"), "REPLICATE");
}

}  // namespace
}  // namespace ferry
