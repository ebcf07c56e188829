#include "tflite/reader.h"

#include <gtest/gtest.h>

#include "tflite/ferry_tflite_generated.h"
#include "tflite/writer.h"
#include "tiny_graph.h"

namespace ferry::tflite {
namespace {

std::string tiny_model() {
  Graph g;
  build_tiny_graph(g);
  return write_tflite(g);
}

TEST(TfliteReader, ReadsWhatTheWriterWrote) {
  std::string bytes = tiny_model();
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  EXPECT_EQ(info.ops.size(), 5u);
  EXPECT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.tensors[info.inputs[0]].shape, (std::vector<int32_t>{1, 4, 4, 2}));
  EXPECT_EQ(info.tensors[info.inputs[0]].dtype, "FLOAT32");
}

TEST(TfliteReader, RejectsEveryTruncation) {
  std::string bytes = tiny_model();
  for (size_t size = 0; size < bytes.size(); size += (size < 256 ? 1 : 97)) {
    // A fresh heap copy of exactly `size` bytes, so a read past the end is caught by ASAN.
    std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_THROW(read_tflite(cut.data(), cut.size()), TfliteFormatError) << size;
  }
}

TEST(TfliteReader, BitFlipsNeverCrash) {
  std::string bytes = tiny_model();
  // Flip bits across the header, tables and vectors: either a clean error or a model whose
  // indices are all in range (a flip inside constant data is still a valid file).
  size_t errors = 0;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    try {
      TfliteModelInfo info = read_tflite(bad.data(), bad.size());
      for (const auto& op : info.ops)
        for (int32_t t : op.inputs) EXPECT_LT(t, static_cast<int32_t>(info.tensors.size()));
    } catch (const TfliteFormatError& e) {
      EXPECT_NE(std::string(e.what()).find("not a valid TFLite flatbuffer"), std::string::npos);
      ++errors;
    }
  }
  EXPECT_GT(errors, 0u);
}

// Found by the fuzzer: an operator whose options type is set but whose options table is
// absent passes the verifier, and reading its fused activation dereferenced null. Version 3,
// one operator code (CONV_2D), one subgraph with one operator: options type Conv2DOptions,
// no table, no tensors.
TEST(TfliteReader, OptionsTypeWithoutTableReadsAsDefaults) {
  const std::vector<uint8_t> bytes = {
      0x14, 0x00, 0x00, 0x00, 0x54, 0x46, 0x4c, 0x33, 0x00, 0x00, 0x0a, 0x00, 0x10, 0x00,
      0x04, 0x00, 0x08, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
      0x10, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x18, 0x00,
      0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x01, 0x0c, 0x00, 0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
      0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00};
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  ASSERT_EQ(info.ops.size(), 1u);
  EXPECT_EQ(info.ops[0].name, "CONV_2D");
  EXPECT_EQ(info.ops[0].fused_activation, "NONE");
}

// The same for every options type: the absent table reads as its defaults.
TEST(TfliteReader, EveryOptionsTypeMayLackItsTable) {
  namespace fb = ferry::tflite_fb;
  for (fb::BuiltinOptions type : fb::EnumValuesBuiltinOptions()) {
    flatbuffers::FlatBufferBuilder b;
    auto code = fb::CreateOperatorCode(b, 0, 0, 1, fb::BuiltinOperator_ADD);
    auto op = fb::CreateOperator(b, 0, 0, 0, type, 0);
    auto sg = fb::CreateSubGraph(b, 0, 0, 0, b.CreateVector(&op, 1));
    fb::FinishModelBuffer(b,
                          fb::CreateModel(b, 3, b.CreateVector(&code, 1), b.CreateVector(&sg, 1)));
    std::vector<uint8_t> bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
    ASSERT_EQ(info.ops.size(), 1u);
    const std::string& act = info.ops[0].fused_activation;
    EXPECT_TRUE(act.empty() || act == "NONE") << fb::EnumNameBuiltinOptions(type) << ": " << act;
  }
}

TEST(TfliteReader, RejectsOtherFiles) {
  std::string text = "this is not a flatbuffer at all, just text";
  EXPECT_THROW(read_tflite(text.data(), text.size()), TfliteFormatError);
  EXPECT_THROW(read_tflite(nullptr, 0), TfliteFormatError);
}

}  // namespace
}  // namespace ferry::tflite
