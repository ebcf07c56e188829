#include "tflite/writer.h"

#include <gtest/gtest.h>

#include "tflite/reader.h"
#include "tiny_graph.h"

namespace ferry::tflite {
namespace {

TfliteModelInfo write_and_read(const Graph& g) {
  std::string bytes = write_tflite(g);
  return read_tflite(bytes.data(), bytes.size());
}

TEST(TfliteWriter, FoldsBatchNormAndFusesRelu) {
  Graph g;
  build_tiny_graph(g);
  TfliteModelInfo info = write_and_read(g);
  EXPECT_EQ(info.version, 3u);
  std::vector<std::string> ops;
  for (const auto& op : info.ops) ops.push_back(op.name);
  EXPECT_EQ(ops, (std::vector<std::string>{"CONV_2D", "ADD", "ADD", "RESHAPE", "FULLY_CONNECTED"}));
  EXPECT_EQ(info.ops[0].fused_activation, "RELU");  // batch norm folded, relu fused
  EXPECT_EQ(info.ops[1].fused_activation, "NONE");
  for (const auto& op : info.ops) EXPECT_EQ(op.version, 1) << op.name;
  // Filter in OHWI, bias always present, dense weights [out, in].
  EXPECT_EQ(info.tensors[info.ops[0].inputs[1]].shape, (std::vector<int32_t>{3, 3, 3, 2}));
  EXPECT_EQ(info.tensors[info.ops[0].inputs[2]].shape, (std::vector<int32_t>{3}));
  EXPECT_EQ(info.tensors[info.ops[4].inputs[1]].shape, (std::vector<int32_t>{5, 48}));
  // Reshape takes its target as a tensor.
  EXPECT_EQ(info.tensors[info.ops[3].inputs[1]].dtype, "INT32");
}

TEST(TfliteWriter, BuffersAreSharedAlignedAndSentinelFirst) {
  Graph g;
  build_tiny_graph(g);
  std::string bytes = write_tflite(g);
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  // The two ADDs' constants hold the same bytes: one buffer.
  EXPECT_EQ(info.tensors[info.ops[1].inputs[1]].buffer, info.tensors[info.ops[2].inputs[1]].buffer);
  EXPECT_NE(info.tensors[info.ops[1].inputs[1]].buffer, 0u);
  // Computed tensors point at the empty sentinel.
  EXPECT_EQ(info.tensors[info.inputs[0]].buffer, 0u);
  EXPECT_EQ(info.tensors[info.inputs[0]].buffer_size, 0u);
  for (size_t offset : info.buffer_offsets) EXPECT_EQ(offset % 16, 0u);
  // Buffers: sentinel, filter, bias, add constant, shape, dense weights and bias, metadata.
  EXPECT_EQ(info.num_buffers, 8u);
}

TEST(TfliteWriter, SignatureAndMetadata) {
  Graph g;
  build_tiny_graph(g);
  TfliteModelInfo info = write_and_read(g);
  ASSERT_EQ(info.signature_keys, (std::vector<std::string>{"serving_default"}));
  ASSERT_EQ(info.signature_inputs.size(), 1u);
  EXPECT_EQ(info.signature_inputs[0].first, "image");
  EXPECT_EQ(info.signature_inputs[0].second, static_cast<uint32_t>(info.inputs[0]));
  EXPECT_EQ(info.signature_outputs[0].first, "logits");
  ASSERT_EQ(info.metadata.size(), 1u);
  EXPECT_EQ(info.metadata[0].first, "min_runtime_version");
  EXPECT_EQ(info.metadata[0].second.substr(0, 6), std::string("1.5.0\0", 6));  // oldest ops only
}

TEST(TfliteWriter, SameGraphSameBytes) {
  Graph a, b;
  build_tiny_graph(a);
  build_tiny_graph(b);
  EXPECT_EQ(write_tflite(a), write_tflite(b));
}

TEST(TfliteWriter, UnsupportedOpNamesOpAndScope) {
  Graph g;
  build_tiny_graph(g, "user");
  try {
    write_tflite(g);
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'user'"), std::string::npos) << what;
    EXPECT_NE(what.find("block.user"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ferry::tflite
