// Op mappings of writer_ops_math.cc, writer_ops_tensor.cc (slice_update:
// writer_ops_region_test.cc) and writer_ops_conv3d.cc: codes,
// versions (from the tensors' types and ranks), options and min_runtime_version.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

Value* typed_op(Graph& g, const std::string& op, std::vector<Value*> in, Shape shape, DType dtype,
                Attrs attrs = {}) {
  Node* n = g.add_node(op, std::move(in), std::move(attrs));
  n->scope = "block." + op;
  Value* v = g.add_value(dtype, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

std::string runtime(const Written& w) {
  const std::string& v = w.info.metadata.at(0).second;
  return v.substr(0, v.find('\0'));
}

TEST(TfliteWriterMath, LeakyReluCarriesAlpha) {
  Graph g;
  Attrs a;
  a.set("alpha", 0.2);
  Written w = write(g, tiny_op(g, "leaky_relu", {input(g, {2, 3})}, {2, 3}, a));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"LEAKY_RELU"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_LeakyReluOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_FLOAT_EQ(o->alpha(), 0.2f);
  EXPECT_EQ(runtime(w), "1.13.1");
}

TEST(TfliteWriterMath, EluWithAnotherAlphaScalesTheNegativePart) {
  Graph g;
  Attrs a;
  a.set("alpha", 0.5);
  Written w = write(g, tiny_op(g, "elu", {input(g, {2, 3})}, {2, 3}, a));
  EXPECT_EQ(w.names(), (std::vector<std::string>{"ELU", "MINIMUM", "MUL", "RELU", "ADD"}));
}

// SUB, DIV and MAXIMUM need a higher version to broadcast above 4-D; ADD and MUL do not.
TEST(TfliteWriterMath, BinaryVersionsFollowRankAndBroadcast) {
  const Shape big = {2, 3, 4, 5, 6}, small = {1, 3, 1, 5, 1};
  struct Expect {
    const char* op;
    const char* code;
    int broadcast, same;
  };
  for (const Expect& e :
       {Expect{"sub", "SUB", 3, 1}, Expect{"div", "DIV", 2, 1}, Expect{"maximum", "MAXIMUM", 3, 1},
        Expect{"add", "ADD", 1, 1}, Expect{"mul", "MUL", 1, 1}}) {
    for (bool broadcast : {true, false}) {
      Graph g;
      Value* a = input(g, big);
      Value* b = input(g, broadcast ? small : big);
      Written w = write(g, tiny_op(g, e.op, {a, b}, big));
      ASSERT_EQ(w.names(), (std::vector<std::string>{e.code}));
      EXPECT_EQ(w.info.ops[0].version, broadcast ? e.broadcast : e.same) << e.op;
    }
  }
}

TEST(TfliteWriterMath, Int64ArithmeticVersions) {
  Graph g;
  Value* x = input(g, {2, 3}, DType::kInt64);
  Value* s = typed_op(g, "add", {x, x}, {2, 3}, DType::kInt64);
  Value* p = typed_op(g, "mul", {s, x}, {2, 3}, DType::kInt64);
  Written w = write(g, typed_op(g, "sub", {p, x}, {2, 3}, DType::kInt64));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"ADD", "MUL", "SUB"}));
  EXPECT_EQ(w.info.ops[0].version, 4);
  EXPECT_EQ(w.info.ops[1].version, 5);
  EXPECT_EQ(w.info.ops[2].version, 4);
  EXPECT_EQ(runtime(w), "2.6.0");
}

TEST(TfliteWriterMath, CastNamesBothTypes) {
  Graph g;
  Attrs a;
  a.set("dtype", std::string("int64"));
  Written w = write(g, typed_op(g, "cast", {input(g, {4})}, {4}, DType::kInt64, a));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"CAST"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_CastOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->in_data_type(), fb::TensorType_FLOAT32);
  EXPECT_EQ(o->out_data_type(), fb::TensorType_INT64);
}

TEST(TfliteWriterMath, ComparisonsGiveBoolAndWhereIsSelectV2) {
  Graph g;
  Value* x = input(g, {2, 3});
  Value* y = input(g, {3});
  Value* less = typed_op(g, "less", {x, y}, {2, 3}, DType::kBool);
  Written w = write(g, tiny_op(g, "where", {less, x, y}, {2, 3}));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"LESS", "SELECT_V2"}));
  EXPECT_EQ(w.info.tensors[w.info.ops[0].outputs[0]].dtype, "BOOL");
  EXPECT_EQ(runtime(w), "2.2.0");
}

TEST(TfliteWriterMath, FloorDivFollowsPytorchsRemainderForm) {
  {  // a constant non-zero divisor needs no zero guard
    Graph g;
    Written w =
        write(g, tiny_op(g, "floor_div", {input(g, {2, 3}), tiny_const(g, {3}, 0.5f)}, {2, 3}));
    EXPECT_EQ(w.names(), (std::vector<std::string>{"FLOOR_MOD", "SUB", "DIV", "ROUND"}));
  }
  Graph g;
  Written w = write(g, tiny_op(g, "floor_div", {input(g, {2, 3}), input(g, {2, 3})}, {2, 3}));
  EXPECT_EQ(w.names(), (std::vector<std::string>{"FLOOR_MOD", "SUB", "DIV", "ROUND", "EQUAL", "DIV",
                                                 "SELECT_V2"}));
  Graph gi;
  Written wi = write(
      gi, typed_op(gi, "floor_div", {input(gi, {4}, DType::kInt32), input(gi, {4}, DType::kInt32)},
                   {4}, DType::kInt32));
  EXPECT_EQ(wi.names(), (std::vector<std::string>{"FLOOR_DIV"}));
  EXPECT_EQ(wi.info.ops[0].version, 1);
}

TEST(TfliteWriterMath, ReductionsWriteAxesAndKeepDims) {
  Graph g;
  Attrs a;
  a.set("axes", std::vector<int64_t>{1, -1});
  a.set("keepdims", true);
  Written w = write(g, tiny_op(g, "max", {input(g, {2, 3, 4, 5, 6})}, {2, 1, 4, 5, 1}, a));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"REDUCE_MAX"}));
  EXPECT_EQ(w.int32_data(w.info.ops[0].inputs[1]), (std::vector<int32_t>{1, 4}));
  EXPECT_TRUE(w.op(0)->builtin_options_as_ReducerOptions()->keep_dims());
  EXPECT_EQ(runtime(w), "1.11.0");
}

TEST(TfliteWriterMath, TransposeAndSliceVersionsByRank) {
  for (size_t rank : {4, 5, 6}) {
    Graph g;
    Shape shape(rank, 2);
    std::vector<int64_t> perm;
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    Attrs a;
    a.set("perm", perm);
    Written w = write(g, tiny_op(g, "transpose", {input(g, shape)}, shape, a));
    EXPECT_EQ(w.info.ops[0].version, rank == 6 ? 6 : rank == 5 ? 4 : 1);
  }
  Graph g;
  Attrs a;
  a.set("begin", std::vector<int64_t>{0, 1, 0, 0, 0});
  a.set("end", std::vector<int64_t>{2, 3, 4, 5, 6});
  a.set("strides", std::vector<int64_t>{1, 1, 2, 1, 3});
  Written w = write(g, tiny_op(g, "slice", {input(g, {2, 3, 4, 5, 6})}, {2, 2, 2, 5, 2}, a));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"STRIDED_SLICE"}));
  EXPECT_EQ(w.info.ops[0].version, 4);
  EXPECT_EQ(runtime(w), "2.2.0");

  Graph g6;
  Attrs a6;
  a6.set("begin", std::vector<int64_t>(6, 0));
  a6.set("end", std::vector<int64_t>(6, 2));
  a6.set("strides", std::vector<int64_t>(6, 1));
  Shape s6(6, 2);
  EXPECT_THROW(write(g6, tiny_op(g6, "slice", {input(g6, s6)}, s6, a6)), TfliteError);
}

TEST(TfliteWriterMath, Conv3dOptionsAndFilterLayout) {
  Graph g;
  Attrs conv;
  conv.set("strides", std::vector<int64_t>{1, 2, 3});
  conv.set("dilations", std::vector<int64_t>{2, 1, 1});
  conv.set("groups", int64_t{1});
  conv.set("padding", std::string("VALID"));
  Value* x = input(g, {1, 6, 7, 8, 2});
  Value* c =
      tiny_op(g, "conv", {x, tiny_const(g, {2, 3, 2, 2, 4}, 0.0f), nullptr}, {1, 4, 3, 3, 4}, conv);
  Written w = write(g, tiny_op(g, "relu", {c}, {1, 4, 3, 3, 4}));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"CONV_3D"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  EXPECT_EQ(w.info.ops[0].fused_activation, "RELU");
  auto* o = w.op(0)->builtin_options_as_Conv3DOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->padding(), fb::Padding_VALID);
  EXPECT_EQ(o->stride_d(), 1);
  EXPECT_EQ(o->stride_h(), 2);
  EXPECT_EQ(o->stride_w(), 3);
  EXPECT_EQ(o->dilation_d_factor(), 2);
  EXPECT_EQ(o->dilation_h_factor(), 1);
  // The filter stays DHWIO, as the core writes conv kernels.
  EXPECT_EQ(w.info.tensors[w.info.ops[0].inputs[1]].shape, (std::vector<int32_t>{2, 3, 2, 2, 4}));
  EXPECT_EQ(runtime(w), "2.5.0");
}

TEST(TfliteWriterMath, OneDimensionalConvRunsOnAHeightOneImage) {
  Graph g;
  Attrs conv;
  conv.set("strides", std::vector<int64_t>{2});
  conv.set("dilations", std::vector<int64_t>{1});
  conv.set("groups", int64_t{1});
  conv.set("padding", std::string("VALID"));
  Value* x = input(g, {1, 9, 2});
  Written w =
      write(g, tiny_op(g, "conv", {x, tiny_const(g, {3, 2, 4}, 0.0f), nullptr}, {1, 4, 4}, conv));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"RESHAPE", "CONV_2D", "RESHAPE"}));
  EXPECT_EQ(w.info.tensors[w.info.ops[1].inputs[0]].shape, (std::vector<int32_t>{1, 1, 9, 2}));
  EXPECT_EQ(w.info.tensors[w.info.ops[1].inputs[1]].shape, (std::vector<int32_t>{4, 1, 3, 2}));
  auto* o = w.op(1)->builtin_options_as_Conv2DOptions();
  EXPECT_EQ(o->stride_h(), 1);
  EXPECT_EQ(o->stride_w(), 2);
}

TEST(TfliteWriterMath, RefusalsNameOpAndScope) {
  Graph g;
  Written ok = write(g, tiny_op(g, "exp", {input(g, {2})}, {2}));
  EXPECT_EQ(ok.names(), (std::vector<std::string>{"EXP"}));
  Graph p;
  Attrs pool;
  pool.set("pool_size", std::vector<int64_t>{2, 2, 2});
  pool.set("strides", std::vector<int64_t>{2, 2, 2});
  pool.set("padding", std::string("VALID"));
  try {
    write(p, tiny_op(p, "max_pool", {input(p, {1, 4, 4, 4, 2}, DType::kInt32)}, {1, 2, 2, 2, 2},
                     pool));
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("only float32 pooling"), std::string::npos) << what;
    EXPECT_NE(what.find("block.max_pool"), std::string::npos) << what;
  }
  Graph i;
  Value* x = input(i, {3}, DType::kInt16);
  EXPECT_THROW(write(i, typed_op(i, "abs", {x}, {3}, DType::kInt16)), TfliteError);
}

TEST(TfliteWriterMath, Int64AbsIsASelectOfTheNegation) {
  // ABS has no int64 kernel.
  Graph g;
  Value* x = input(g, {3}, DType::kInt64);
  Written w = write(g, typed_op(g, "abs", {x}, {3}, DType::kInt64));
  EXPECT_EQ(w.names(), (std::vector<std::string>{"LESS", "NEG", "SELECT_V2"}));
}

}  // namespace
}  // namespace ferry::tflite
