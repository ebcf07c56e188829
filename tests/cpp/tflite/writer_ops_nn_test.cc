// Op mappings of writer_ops_nn.cc (resize: writer_ops_resize_test.cc): op code, version and options
// of each emitted operator.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

TEST(TfliteWriterOps, MatmulIsBatchMatmulWithAdjoints) {
  Graph g;
  Value* a = input(g, {2, 4, 3, 5});
  Value* b = input(g, {4, 7, 5});
  Attrs attrs;
  attrs.set("transpose_a", false);
  attrs.set("transpose_b", true);
  Written w = write(g, tiny_op(g, "matmul", {a, b}, {2, 4, 3, 7}, attrs));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"BATCH_MATMUL"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_BatchMatMulOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->adj_x());
  EXPECT_TRUE(o->adj_y());
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("2.3.0\0", 6));
}

TEST(TfliteWriterOps, MatmulWithConstantMatrixIsFullyConnected) {
  Graph g;
  Value* a = input(g, {3, 2});
  Value* b = tiny_const(g, {2, 4}, 0.0f);  // [in, out] = 0, 0.25, ... row-major
  Attrs attrs;
  attrs.set("transpose_a", false);
  attrs.set("transpose_b", false);
  Written w = write(g, tiny_op(g, "matmul", {a, b}, {3, 4}, attrs));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"FULLY_CONNECTED"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  EXPECT_FALSE(w.op(0)->builtin_options_as_FullyConnectedOptions()->keep_num_dims());
  int weights = w.info.ops[0].inputs[1];
  EXPECT_EQ(w.info.tensors[weights].shape, (std::vector<int32_t>{4, 2}));
  auto* model = fb::GetModel(w.bytes.data());
  auto* data =
      model->buffers()->Get(model->subgraphs()->Get(0)->tensors()->Get(weights)->buffer())->data();
  const float* p = reinterpret_cast<const float*>(data->data());
  // weights[o][i] = b[i][o] = 0.25 * (i * 4 + o)
  EXPECT_FLOAT_EQ(p[0 * 2 + 1], 1.0f);
  EXPECT_FLOAT_EQ(p[3 * 2 + 0], 0.75f);
}

TEST(TfliteWriterOps, LayerNormDecomposition) {
  Graph g;
  Value* x = input(g, {2, 5, 8});
  Attrs attrs;
  attrs.set("axes", std::vector<int64_t>{2});
  attrs.set("epsilon", 1e-5);
  Written w =
      write(g, tiny_op(g, "layer_norm", {x, tiny_const(g, {8}, 1.0f), tiny_const(g, {8}, -1.0f)},
                       {2, 5, 8}, attrs));
  EXPECT_EQ(w.names(), (std::vector<std::string>{"MEAN", "SUB", "MUL", "MEAN", "ADD", "RSQRT",
                                                 "MUL", "MUL", "ADD"}));
  for (const auto& op : w.info.ops) EXPECT_EQ(op.version, 1) << op.name;
  EXPECT_TRUE(w.op(0)->builtin_options_as_ReducerOptions()->keep_dims());
  EXPECT_EQ(w.info.tensors[w.info.ops[0].outputs[0]].shape, (std::vector<int32_t>{2, 5, 1}));
  // gamma and beta broadcast over the normalised axes.
  EXPECT_EQ(w.info.tensors[w.info.ops[7].inputs[1]].shape, (std::vector<int32_t>{1, 1, 8}));
  EXPECT_EQ(w.info.tensors[w.info.ops[8].inputs[1]].shape, (std::vector<int32_t>{1, 1, 8}));
}

TEST(TfliteWriterOps, Gelu) {
  for (const char* approximate : {"none", "tanh"}) {
    Graph g;
    Value* x = input(g, {2, 3});
    Attrs attrs;
    attrs.set("approximate", std::string(approximate));
    Written w = write(g, tiny_op(g, "gelu", {x}, {2, 3}, attrs));
    ASSERT_EQ(w.names(), (std::vector<std::string>{"GELU"}));
    EXPECT_EQ(w.info.ops[0].version, 1);
    auto* o = w.op(0)->builtin_options_as_GeluOptions();
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->approximate(), std::string(approximate) == "tanh");
    EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("2.9.0\0", 6));
  }
}

TEST(TfliteWriterOps, SoftmaxOverMiddleAxisTransposesAround) {
  Graph g;
  Value* x = input(g, {2, 5, 7});
  Attrs attrs;
  attrs.set("axis", int64_t{1});
  Written w = write(g, tiny_op(g, "softmax", {x}, {2, 5, 7}, attrs));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"TRANSPOSE", "SOFTMAX", "TRANSPOSE"}));
  EXPECT_EQ(w.int32_data(w.info.ops[0].inputs[1]), (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(w.info.tensors[w.info.ops[1].inputs[0]].shape, (std::vector<int32_t>{2, 7, 5}));
  EXPECT_FLOAT_EQ(w.op(1)->builtin_options_as_SoftmaxOptions()->beta(), 1.0f);
}

}  // namespace
}  // namespace ferry::tflite
