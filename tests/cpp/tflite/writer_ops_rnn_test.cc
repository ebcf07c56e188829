// Op mappings of writer_ops_rnn.cc: embeddings as GATHER, recurrent layers unrolled, LSTM
// layers as UNIDIRECTIONAL_SEQUENCE_LSTM on request.
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

WriteOptions unrolled_form() {
  WriteOptions o;
  o.recurrent = RecurrentForm::kUnrolled;
  o.recurrent_explicit = true;
  return o;
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

// An LSTM of 5 units over [2, 3, 4] from zero states: kernel -1, recurrent kernel 0.5.
std::vector<Value*> small_lstm(Graph& g) {
  return recurrent(g, "lstm",
                   {input(g, {2, 3, 4}), nullptr, nullptr, tiny_const(g, {4, 20}, -1.0f),
                    tiny_const(g, {5, 20}, 0.5f), tiny_const(g, {20}, 0.0f)},
                   5, false);
}

TEST(TfliteWriterRnn, LstmFromZerosSkipsTheFirstRecurrentProduct) {
  Graph g;
  small_lstm(g);
  Written w = write(g, unrolled_form());
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

TEST(TfliteWriterRnn, UnrolledKernelsWithInt8WeightsArePerRowAtTheHybridVersion) {
  Graph g;
  auto outs = small_lstm(g);
  g.outputs = {outs[0]};
  WriteOptions options = unrolled_form();
  options.int8_weights = true;
  Written w = write(g, options);
  size_t dense = 0;
  for (const TfliteOp& op : w.info.ops) {
    if (op.name != "FULLY_CONNECTED") continue;
    ++dense;
    EXPECT_EQ(op.version, 12);
    EXPECT_EQ(w.info.tensors[op.inputs[1]].dtype, "INT8");
    const auto* kernel =
        fb::GetModel(w.bytes.data())->subgraphs()->Get(0)->tensors()->Get(op.inputs[1]);
    ASSERT_NE(kernel->quantization(), nullptr);
    EXPECT_EQ(kernel->quantization()->scale()->size(), kernel->shape()->Get(0));  // per row
    EXPECT_EQ(w.info.tensors[op.inputs[2]].dtype, "FLOAT32");                     // the bias
  }
  EXPECT_EQ(dense, 3u);  // the steps' input projection and two recurrent products
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

WriteOptions sequence_form() {
  WriteOptions o;
  o.recurrent = RecurrentForm::kSequence;
  o.recurrent_explicit = true;
  return o;
}

// Kernel [F, 4H] whose column j (gate j / H, unit j % H) holds j + 100 * row: each gate's
// TFLite matrix [H, F] is then the transposed column block.
Value* numbered_kernel(Graph& g, int64_t rows, int64_t cols) {
  auto data = std::make_shared<TensorData>(DType::kFloat32, Shape{rows, cols});
  float* p = data->mutable_as<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) p[r * cols + c] = static_cast<float>(c + 100 * r);
  Value* k = g.add_constant(data);
  k->layout = Layout::kFixed;
  return k;
}

// An LSTM of 5 units over [2, 3, 4] from zero states with a numbered kernel.
std::vector<Value*> numbered_lstm(Graph& g, float bias) {
  return recurrent(g, "lstm",
                   {input(g, {2, 3, 4}), nullptr, nullptr, numbered_kernel(g, 4, 20),
                    tiny_const(g, {5, 20}, 0.5f), tiny_const(g, {20}, bias)},
                   5, false);
}

TEST(TfliteWriterRnn, LstmSequenceFormResetsItsVariableStatesBeforeTheKernel) {
  Graph g;
  auto outs = numbered_lstm(g, 0.0f);
  g.outputs = {outs[0], outs[1]};  // y, h_n: c_n unread
  std::vector<std::string> warnings;
  Written w;
  {
    WriteResult r = write_tflite_model(g, sequence_form());
    warnings = r.warnings;
    w.bytes = r.bytes();
    w.info = read_tflite(w.bytes.data(), w.bytes.size());
  }
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(w.names(), (std::vector<std::string>{"FILL", "FILL", "UNIDIRECTIONAL_SEQUENCE_LSTM",
                                                 "STRIDED_SLICE"}));
  const TfliteOp& lstm = w.info.ops[2];
  EXPECT_EQ(lstm.version, 1);
  ASSERT_EQ(lstm.inputs.size(), 20u);
  auto* tensors = fb::GetModel(w.bytes.data())->subgraphs()->Get(0)->tensors();
  // States: variable tensors, each written by a FILL that runs before the kernel.
  for (int k : {18, 19}) {
    const int32_t state = lstm.inputs[k];
    EXPECT_TRUE(tensors->Get(state)->is_variable()) << k;
    EXPECT_LT(w.producer(state), 2) << k;
    EXPECT_GE(w.producer(state), 0) << k;
  }
  for (int k : {9, 10, 11, 16, 17}) EXPECT_EQ(lstm.inputs[k], -1) << k;  // no peephole, proj
  // The forget gate's input weights: columns 5..9 of the kernel, transposed.
  std::vector<float> forget = w.floats(lstm.inputs[2]);
  ASSERT_EQ(forget.size(), 20u);
  EXPECT_EQ(forget[0], 5.0f);
  EXPECT_EQ(forget[1], 105.0f);
  EXPECT_EQ(forget[4], 6.0f);
  auto* options = w.op(2)->builtin_options_as_UnidirectionalSequenceLSTMOptions();
  ASSERT_NE(options, nullptr);
  EXPECT_FALSE(options->time_major());
  EXPECT_EQ(options->fused_activation_function(), fb::ActivationFunctionType_TANH);
  // h_n: the last step of the sequence.
  EXPECT_EQ(w.op(3)->builtin_options_as_StridedSliceOptions()->shrink_axis_mask(), 2);
  EXPECT_EQ(w.int32_data(w.info.ops[3].inputs[1]), (std::vector<int32_t>{0, 2, 0}));
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("1.13.1", 6));
}

TEST(TfliteWriterRnn, LstmSequenceFormWithInt8WeightsIsTheHybridKernel) {
  Graph g;
  auto outs = numbered_lstm(g, 0.25f);
  g.outputs = {outs[0]};
  WriteOptions options = sequence_form();
  options.int8_weights = true;
  Written w = write(g, options);
  const auto it = std::find_if(w.info.ops.begin(), w.info.ops.end(), [](const TfliteOp& op) {
    return op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM";
  });
  ASSERT_NE(it, w.info.ops.end());
  EXPECT_EQ(it->version, 2);
  auto* tensors = fb::GetModel(w.bytes.data())->subgraphs()->Get(0)->tensors();
  for (int k = 1; k <= 8; ++k) {  // the gate weights: INT8, one symmetric scale each
    const auto* t = tensors->Get(it->inputs[k]);
    EXPECT_EQ(t->type(), fb::TensorType_INT8) << k;
    ASSERT_NE(t->quantization(), nullptr) << k;
    EXPECT_EQ(t->quantization()->scale()->size(), 1u) << k;
    EXPECT_EQ(t->quantization()->zero_point()->Get(0), 0) << k;
  }
  // The forget gate's input weights (kernel columns 5..9, largest 309): 309 / 127 per step.
  EXPECT_FLOAT_EQ(tensors->Get(it->inputs[2])->quantization()->scale()->Get(0), 309.0f / 127.0f);
  for (int k = 12; k <= 15; ++k)  // the biases stay float32
    EXPECT_EQ(tensors->Get(it->inputs[k])->type(), fb::TensorType_FLOAT32) << k;
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("1.14.0", 6));
}

TEST(TfliteWriterRnn, LstmSequenceFormCopiesGivenStatesAndReversesTheBackwardDirection) {
  Graph g;
  Value* x = input(g, {1, 4, 3});
  std::vector<Value*> inputs{x};
  for (int d = 0; d < 2; ++d) {
    inputs.push_back(input(g, {1, 2}));
    inputs.push_back(input(g, {1, 2}));
    inputs.push_back(tiny_const(g, {3, 8}, 0.0f));
    inputs.push_back(tiny_const(g, {2, 8}, 1.0f));
    inputs.push_back(nullptr);  // no bias: zeros, which the kernel requires
  }
  auto outs = recurrent(g, "lstm", inputs, 2, true);
  g.outputs = {outs[0]};
  Written w = write(g, sequence_form());
  EXPECT_EQ(w.count("UNIDIRECTIONAL_SEQUENCE_LSTM"), 2u);
  EXPECT_EQ(w.count("MUL"), 4u);  // h0, c0 per direction copied into the variable states
  EXPECT_EQ(w.count("FILL"), 0u);
  EXPECT_EQ(w.count("REVERSE_V2"), 2u);
  EXPECT_EQ(w.count("STRIDED_SLICE"), 0u);  // nothing reads h_n
  EXPECT_EQ(w.info.ops.back().name, "CONCATENATION");
  EXPECT_EQ(w.op(w.info.ops.size() - 1)->builtin_options_as_ConcatenationOptions()->axis(), 2);
  for (const auto& op : w.info.ops)
    if (op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM")
      EXPECT_EQ(w.floats(op.inputs[13]), (std::vector<float>{0.0f, 0.0f}));
}

TEST(TfliteWriterRnn, LstmWhoseCellStateIsReadStaysUnrolledAndSaysWhy) {
  Graph g;
  Value* x = input(g, {2, 3, 4});
  recurrent(g, "lstm",
            {x, nullptr, nullptr, tiny_const(g, {4, 20}, -1.0f), tiny_const(g, {5, 20}, 0.5f),
             tiny_const(g, {20}, 0.0f)},
            5, false);
  WriteResult r = write_tflite_model(g, sequence_form());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("LSTM 'encoder.rnn' layer 0"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("c_n"), std::string::npos) << r.warnings[0];
  std::string bytes = r.bytes();
  Written w{bytes, read_tflite(bytes.data(), bytes.size())};
  expect_unrolled(w);
}

TEST(TfliteWriterRnn, AChosenFormWithoutLstmSaysItHadNoEffect) {
  Graph g;
  Value* x = input(g, {1, 4, 3});
  recurrent(g, "gru",
            {x, nullptr, tiny_const(g, {3, 6}, 0.0f), tiny_const(g, {2, 6}, 1.0f), nullptr}, 2,
            false);
  WriteResult r = write_tflite_model(g, sequence_form());
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("no LSTM"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[1].find("GRU 'encoder.rnn' layer 0"), std::string::npos) << r.warnings[1];
  // The default (the sequence form), which nobody chose, warns about nothing here.
  EXPECT_EQ(WriteOptions{}.recurrent, RecurrentForm::kSequence);
  EXPECT_TRUE(write_tflite_model(g).warnings.empty());
}

}  // namespace
}  // namespace ferry::tflite
