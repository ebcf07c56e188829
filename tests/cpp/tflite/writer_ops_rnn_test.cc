// Op mappings of writer_ops_rnn.cc: embeddings as GATHER, recurrent layers unrolled.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

const std::set<std::string> kUnrolledOps = {
    "FULLY_CONNECTED", "STRIDED_SLICE", "SPLIT",         "ADD",    "SUB", "MUL",
    "LOGISTIC",        "TANH",          "CONCATENATION", "RESHAPE"};

void expect_unrolled(const Written& w) {
  for (const auto& op : w.info.ops) {
    EXPECT_TRUE(kUnrolledOps.count(op.name)) << op.name;
    EXPECT_EQ(op.version, 1) << op.name;
    if (op.name == "FULLY_CONNECTED") EXPECT_EQ(op.inputs.size(), 3u) << "bias-less FC is v6";
    if (op.name == "CONCATENATION") EXPECT_LE(op.inputs.size(), 5u) << "XNNPACK takes 5 at most";
  }
  // Every output is written by an operator (the final states by the last step).
  for (int32_t out : w.info.outputs) EXPECT_GE(w.producer(out), 0) << out;
}

TEST(TfliteWriterRnn, EmbeddingIsGatherOnAxisZero) {
  Graph g;
  Value* ids = input(g, {2, 3}, DType::kInt64);
  Value* table = tiny_const(g, {10, 4}, 0.0f);
  g.outputs.push_back(tiny_op(g, "embedding", {ids, table}, {2, 3, 4}));
  Written w = write(g);
  ASSERT_EQ(w.info.ops.size(), 1u);
  EXPECT_EQ(w.info.ops[0].name, "GATHER");
  EXPECT_EQ(w.info.ops[0].version, 1);
  EXPECT_EQ(w.op(0)->builtin_options_as_GatherOptions()->axis(), 0);
  // params first, then the positions, kept int64.
  EXPECT_EQ(w.info.tensors[w.info.ops[0].inputs[0]].shape, (std::vector<int32_t>{10, 4}));
  EXPECT_EQ(w.info.tensors[w.info.ops[0].inputs[1]].dtype, "INT64");
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("1.6.0\0", 6));
}

TEST(TfliteWriterRnn, EmbeddingWithFloatIndicesIsRefused) {
  Graph g;
  Value* ids = input(g, {2, 3});
  g.outputs.push_back(tiny_op(g, "embedding", {ids, tiny_const(g, {10, 4}, 0.0f)}, {2, 3, 4}));
  try {
    write(g);
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'embedding'"), std::string::npos) << what;
    EXPECT_NE(what.find("block.embedding"), std::string::npos) << what;
  }
}

TEST(TfliteWriterRnn, LstmFromZerosSkipsTheFirstRecurrentProduct) {
  Graph g;
  Value* x = input(g, {2, 3, 4});
  auto outs = recurrent(g, "lstm",
                        {x, nullptr, nullptr, tiny_const(g, {4, 20}, -1.0f),
                         tiny_const(g, {5, 20}, 0.5f), tiny_const(g, {20}, 0.0f)},
                        5, false);
  Written w = write(g);
  expect_unrolled(w);
  // One projection of all steps, then steps 1 and 2 multiply the previous h.
  EXPECT_EQ(w.count("FULLY_CONNECTED"), 3u);
  EXPECT_EQ(w.count("SPLIT"), 3u);
  const TfliteOp& proj = w.info.ops[0];
  EXPECT_EQ(proj.name, "FULLY_CONNECTED");
  EXPECT_EQ(w.info.tensors[proj.inputs[1]].shape, (std::vector<int32_t>{20, 4}));
  EXPECT_EQ(w.info.tensors[proj.outputs[0]].shape, (std::vector<int32_t>{6, 20}));
  for (size_t i = 0; i < w.info.ops.size(); ++i)
    if (w.info.ops[i].name == "SPLIT")
      EXPECT_EQ(w.op(i)->builtin_options_as_SplitOptions()->num_splits(), 4);
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("1.14.0", 6));
}

TEST(TfliteWriterRnn, BidirectionalGruWithStateFoldsTheGateBiases) {
  Graph g;
  Value* x = input(g, {1, 4, 3});
  Value* h_fw = input(g, {1, 2});
  Value* h_bw = input(g, {1, 2});
  // bias row 0 = 0, 0.25, ..., 1.25 (input), row 1 = 1.5, ..., 2.75 (recurrent)
  auto group = [&](Value* h) {
    return std::vector<Value*>{h, tiny_const(g, {3, 6}, 0.0f), tiny_const(g, {2, 6}, 1.0f),
                               tiny_const(g, {2, 6}, 0.0f)};
  };
  std::vector<Value*> inputs{x};
  for (Value* h : {h_fw, h_bw})
    for (Value* v : group(h)) inputs.push_back(v);
  auto outs = recurrent(g, "gru", inputs, 2, true);
  Written w = write(g);
  expect_unrolled(w);
  EXPECT_EQ(w.count("FULLY_CONNECTED"), 2u * (1 + 4));  // h0 given: every step multiplies
  const TfliteOp& proj = w.info.ops[0];
  // z and r take both biases, the h block only the input one ...
  EXPECT_EQ(w.floats(proj.inputs[2]), (std::vector<float>{1.5f, 2.0f, 2.5f, 3.0f, 1.0f, 1.25f}));
  // ... and its recurrent bias stays inside r * (h U_h + b_h).
  for (size_t i = 0; i < w.info.ops.size(); ++i) {
    if (w.info.ops[i].name != "FULLY_CONNECTED" || w.info.ops[i].inputs[0] == proj.inputs[0])
      continue;
    EXPECT_EQ(w.floats(w.info.ops[i].inputs[2]),
              (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f, 2.5f, 2.75f}));
    break;
  }
  // The sequence: forward and backward h of each of the 4 steps, side by side.
  EXPECT_EQ(w.info.tensors[w.info.outputs[0]].shape, (std::vector<int32_t>{1, 4, 4}));
}

TEST(TfliteWriterRnn, RecurrentWithMismatchedKernelIsRefused) {
  Graph g;
  Value* x = input(g, {2, 3, 4});
  recurrent(g, "gru",
            {x, nullptr, tiny_const(g, {5, 15}, 0.0f), tiny_const(g, {5, 15}, 0.0f), nullptr}, 5,
            false);
  try {
    write(g);
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'gru'"), std::string::npos) << what;
    EXPECT_NE(what.find("encoder.rnn"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ferry::tflite
