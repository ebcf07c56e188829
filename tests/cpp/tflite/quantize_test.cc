// Full integer quantization of a written model (cpp/tflite/quantize.cc): the float file's
// ranges in, an int8 file out with one QUANTIZE / DEQUANTIZE at the boundary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tflite/ferry_tflite_generated.h"
#include "tflite/reader.h"
#include "tflite/writer.h"
#include "tiny_graph.h"

namespace ferry::tflite {
namespace {

namespace fb = tflite_fb;

// The ranges a calibration would observe: [-1, 2] for every computed float32 tensor.
Int8Activations ranges_for(const Graph& g, IoType io = IoType::kFloat32) {
  const std::string floats = write_tflite(g);
  const TfliteModelInfo info = read_tflite(floats.data(), floats.size());
  Int8Activations q;
  q.tensors = info.tensors.size();
  q.io = io;
  for (size_t i = 0; i < info.tensors.size(); ++i)
    if (info.tensors[i].dtype == "FLOAT32" && info.tensors[i].buffer_size == 0)
      q.ranges.push_back({static_cast<int32_t>(i), {-1.0f, 2.0f}});
  return q;
}

std::string int8_file(const Graph& g, IoType io = IoType::kFloat32) {
  WriteOptions options;
  options.int8 = ranges_for(g, io);
  return write_tflite(g, options);
}

TEST(Int8Activations, IntegerBetweenOneQuantizeAndOneDequantize) {
  Graph g;
  build_tiny_graph(g);
  const std::string bytes = int8_file(g);
  const TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  ASSERT_GE(info.ops.size(), 3u);
  EXPECT_EQ(info.ops.front().name, "QUANTIZE");
  EXPECT_EQ(info.ops.back().name, "DEQUANTIZE");
  EXPECT_EQ(info.tensors[info.inputs[0]].dtype, "FLOAT32");
  EXPECT_EQ(info.tensors[info.outputs[0]].dtype, "FLOAT32");
  for (size_t k = 1; k + 1 < info.ops.size(); ++k) {
    const TfliteOp& op = info.ops[k];
    EXPECT_NE(op.name, "QUANTIZE");
    EXPECT_NE(op.name, "DEQUANTIZE");
    for (const auto* list : {&op.inputs, &op.outputs})
      for (int32_t t : *list)
        if (t >= 0)
          EXPECT_TRUE(info.tensors[t].dtype == "INT8" || info.tensors[t].dtype == "INT32")
              << op.name << " reads or writes " << info.tensors[t].dtype;
    if (op.name == "CONV_2D") EXPECT_EQ(op.version, 3);
    if (op.name == "FULLY_CONNECTED") EXPECT_GE(op.version, 4);
    if (op.name == "ADD") EXPECT_EQ(op.version, 2);
  }
  // Every float32 weight was replaced, and the replaced bytes are gone.
  for (const TfliteTensor& t : info.tensors)
    if (t.buffer_size > 0) EXPECT_NE(t.dtype, "FLOAT32") << t.name;
}

TEST(Int8Activations, ReshapeKeepsItsInputsScaleAndBiasesAreInt32) {
  Graph g;
  build_tiny_graph(g);
  const std::string bytes = int8_file(g);
  const auto* model = fb::GetModel(bytes.data());
  const auto* graph = model->subgraphs()->Get(0);
  int reshapes = 0, biases = 0;
  for (const auto* op : *graph->operators()) {
    const auto code = model->operator_codes()->Get(op->opcode_index())->builtin_code();
    if (code == fb::BuiltinOperator_RESHAPE) {
      const auto* in = graph->tensors()->Get(op->inputs()->Get(0))->quantization();
      const auto* out = graph->tensors()->Get(op->outputs()->Get(0))->quantization();
      EXPECT_EQ(in->scale()->Get(0), out->scale()->Get(0));
      EXPECT_EQ(in->zero_point()->Get(0), out->zero_point()->Get(0));
      ++reshapes;
    }
    if (code == fb::BuiltinOperator_CONV_2D || code == fb::BuiltinOperator_FULLY_CONNECTED) {
      const auto* input = graph->tensors()->Get(op->inputs()->Get(0))->quantization();
      const auto* kernel = graph->tensors()->Get(op->inputs()->Get(1))->quantization();
      const auto* bias = graph->tensors()->Get(op->inputs()->Get(2));
      EXPECT_EQ(bias->type(), fb::TensorType_INT32);
      for (uint32_t c = 0; c < kernel->scale()->size(); ++c)
        EXPECT_FLOAT_EQ(bias->quantization()->scale()->Get(c),
                        input->scale()->Get(0) * kernel->scale()->Get(c));
      ++biases;
    }
  }
  EXPECT_EQ(reshapes, 1);
  EXPECT_EQ(biases, 2);
}

TEST(Int8Activations, Int8InputsAndOutputsNeedNoConversion) {
  Graph g;
  build_tiny_graph(g);
  const std::string bytes = int8_file(g, IoType::kInt8);
  const TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  EXPECT_EQ(info.tensors[info.inputs[0]].dtype, "INT8");
  EXPECT_EQ(info.tensors[info.outputs[0]].dtype, "INT8");
  for (const TfliteOp& op : info.ops) {
    EXPECT_NE(op.name, "QUANTIZE");
    EXPECT_NE(op.name, "DEQUANTIZE");
  }
  // The signature names the boundary tensors themselves.
  EXPECT_EQ(info.signature_inputs.at(0).second, static_cast<uint32_t>(info.inputs[0]));
}

TEST(Int8Activations, TheSameRangesGiveTheSameBytes) {
  Graph g;
  build_tiny_graph(g);
  EXPECT_EQ(int8_file(g), int8_file(g));
}

TEST(Int8Activations, RangesOfAnotherModelAreRefused) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.int8 = ranges_for(g);
  options.int8->tensors += 1;
  try {
    write_tflite(g, options);
    FAIL() << "ranges for another model were taken";
  } catch (const TfliteError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration ranges describe a model of"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ferry::tflite
