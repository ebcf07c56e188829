// Writer options: the large-model layout (weights after the flatbuffer), float16 weights,
// and weights written from PyTorch's own bytes without copies.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tflite/builder.h"
#include "tflite/ferry_tflite_generated.h"
#include "tflite/reader.h"
#include "tflite/writer.h"
#include "tiny_graph.h"

namespace ferry::tflite {
namespace {

std::string metadata(const TfliteModelInfo& info, const std::string& name) {
  for (const auto& [key, value] : info.metadata)
    if (key == name) return value.substr(0, value.find('\0'));
  return "<absent>";
}

TEST(FloatToHalf, RoundsToNearestEvenAndSaturatesToInfinity) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);  // the largest half
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // halfway to the next: rounds up to infinity
  EXPECT_EQ(float_to_half(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);             // the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);             // below half of it
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie: to even
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie: to even
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  uint16_t nan = float_to_half(NAN);
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
}

TEST(LargeModelLayout, WeightsFollowTheFlatbufferAligned) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.placement = BufferPlacement::kExternal;
  WriteResult written = write_tflite_model(g, options);
  EXPECT_TRUE(written.external_buffers());
  std::string bytes = written.bytes();
  ASSERT_EQ(bytes.size(), written.size());
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  EXPECT_TRUE(info.external_buffers);
  EXPECT_EQ(metadata(info, "buffer_location"), "outside flatbuffers");
  EXPECT_FALSE(metadata(info, "min_runtime_version").empty());
  ASSERT_FALSE(info.buffer_offsets.empty());
  for (size_t offset : info.buffer_offsets) EXPECT_EQ(offset % 16, 0u) << offset;
  // Same graph, same model: the constants read back equal, wherever they are stored.
  std::string inline_bytes = write_tflite(g);
  TfliteModelInfo inline_info = read_tflite(inline_bytes.data(), inline_bytes.size());
  ASSERT_EQ(info.tensors.size(), inline_info.tensors.size());
  for (size_t i = 0; i < info.tensors.size(); ++i)
    EXPECT_EQ(info.tensors[i].buffer_size, inline_info.tensors[i].buffer_size) << i;
  EXPECT_FALSE(inline_info.external_buffers);
  EXPECT_EQ(metadata(inline_info, "buffer_location"), "<absent>");
}

TEST(LargeModelLayout, StreamedFileEqualsTheBytesInMemory) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.placement = BufferPlacement::kExternal;
  WriteResult written = write_tflite_model(g, options);
  auto path = std::filesystem::temp_directory_path() /
              ("ferry_layout_test_" + std::to_string(::getpid()) + ".tflite");
  written.write_file(path.string());
  std::ifstream in(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  EXPECT_EQ(file, written.bytes());
}

TEST(LargeModelLayout, ATruncatedFileIsRejectedNotRead) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.placement = BufferPlacement::kExternal;
  std::string bytes = write_tflite_model(g, options).bytes();
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  // The metadata strings stay inside the flatbuffer; the weights come after it.
  size_t last = *std::max_element(info.buffer_offsets.begin(), info.buffer_offsets.end());
  // Cut inside the last appended buffer: the flatbuffer is intact, the weights are not.
  std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(last + 4));
  try {
    read_tflite(cut.data(), cut.size());
    FAIL() << "accepted a truncated file";
  } catch (const TfliteFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("lies outside the"), std::string::npos) << e.what();
  }
}

TEST(LargeModelLayout, InlineBeyondTheLimitIsRefusedClearly) {
  // 2.2 GB of (unread) constant: only its size matters before anything is written.
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 4}, "x");
  x->layout = Layout::kFixed;
  g.inputs.push_back(x);
  // Untouched anonymous pages read as zeros without using memory: 2.2 GB for free.
  const size_t count = size_t{550} << 20;
  void* big = ::mmap(nullptr, count * 4, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(big, MAP_FAILED);
  std::shared_ptr<const void> unmap(
      big, [count](const void* p) { ::munmap(const_cast<void*>(p), count * 4); });
  auto data =
      std::make_shared<TensorData>(DType::kFloat32, Shape{4, static_cast<int64_t>(count / 4)},
                                   static_cast<const std::byte*>(big), unmap);
  Value* k = g.add_constant(data);
  k->layout = Layout::kFixed;
  Value* d = tiny_op(g, "dense", {x, k, nullptr}, {1, static_cast<int64_t>(count / 4)});
  g.outputs.push_back(d);
  WriteOptions options;
  options.placement = BufferPlacement::kInline;
  try {
    write_tflite_model(g, options);
    FAIL() << "wrote a flatbuffer over 2 GiB";
  } catch (const TfliteError& e) {
    EXPECT_NE(std::string(e.what()).find("large-model layout"), std::string::npos) << e.what();
  }
  options.placement = BufferPlacement::kAuto;
  EXPECT_TRUE(write_tflite_model(g, options).external_buffers());
}

TEST(Float16Weights, StoredAsHalfWithOneDequantizePerBuffer) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.float16_weights = true;
  std::string bytes = write_tflite(g, options);
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  int dequantize = 0;
  for (const auto& op : info.ops) {
    if (op.name != "DEQUANTIZE") continue;
    ++dequantize;
    EXPECT_EQ(op.version, 3);  // float16 input
    const auto& in = info.tensors[op.inputs[0]];
    const auto& out = info.tensors[op.outputs[0]];
    EXPECT_EQ(in.dtype, "FLOAT16");
    EXPECT_EQ(out.dtype, "FLOAT32");
    EXPECT_EQ(in.shape, out.shape);
    int64_t elements = 1;
    for (int32_t d : in.shape) elements *= d;
    EXPECT_GE(elements, 16);
    EXPECT_EQ(in.buffer_size, static_cast<size_t>(elements) * 2);
  }
  // The conv filter (54 elements) and the dense weights (240); small biases stay float32.
  EXPECT_EQ(dequantize, 2);
  EXPECT_EQ(metadata(info, "min_runtime_version"), "1.15.0");
  EXPECT_LT(bytes.size(), write_tflite(g).size());
}

TEST(Int8Weights, KernelsAreInt8PerOutputChannelAtTheHybridVersions) {
  Graph g;
  build_tiny_graph(g);
  WriteOptions options;
  options.int8_weights = true;
  const std::string bytes = write_tflite(g, options);
  const auto* model = tflite_fb::GetModel(bytes.data());
  const auto* graph = model->subgraphs()->Get(0);
  int kernels = 0;
  for (const auto* op : *graph->operators()) {
    const auto* code = model->operator_codes()->Get(op->opcode_index());
    const auto* filter =
        graph->tensors()->Get(op->inputs()->Get(std::min(1u, op->inputs()->size() - 1)));
    if (filter->type() != tflite_fb::TensorType_INT8) continue;
    ++kernels;
    const auto* q = filter->quantization();
    ASSERT_NE(q, nullptr);
    const int32_t channels = filter->shape()->Get(0);  // OHWI filter, [out, in] weights
    EXPECT_EQ(q->quantized_dimension(), 0);
    EXPECT_EQ(q->scale()->size(), static_cast<uint32_t>(channels));
    for (int64_t z : *q->zero_point()) EXPECT_EQ(z, 0);
    const bool conv = code->builtin_code() == tflite_fb::BuiltinOperator_CONV_2D;
    EXPECT_EQ(code->version(), conv ? 5 : 12);
    // Symmetric: the largest magnitude of each channel maps to 127.
    const auto* data = model->buffers()->Get(filter->buffer())->data();
    const int64_t per_channel = data->size() / channels;
    for (int32_t c = 0; c < channels; ++c) {
      int largest = 0;
      for (int64_t i = 0; i < per_channel; ++i)
        largest = std::max(largest, std::abs(static_cast<int8_t>(data->Get(c * per_channel + i))));
      EXPECT_EQ(largest, 127);
    }
  }
  EXPECT_EQ(kernels, 2);  // the conv filter and the dense weights; biases stay float32
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  EXPECT_EQ(metadata(info, "min_runtime_version"), "2.16.0");
}

TEST(ZeroCopyWeights, DenseWeightsAreThePyTorchBytes) {
  // PyTorch's Linear weight [out, in], lowered as a lazy [in, out] kernel: the file stores
  // the original bytes, and nothing materialises the transposed copy.
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 3}, "x");
  x->layout = Layout::kFixed;
  g.inputs.push_back(x);
  auto torch_weight = std::make_shared<TensorData>(DType::kFloat32, Shape{2, 3});
  for (int i = 0; i < 6; ++i) torch_weight->mutable_as<float>()[i] = static_cast<float>(i + 1);
  std::shared_ptr<const TensorData> kernel = torch_weight->permuted({1, 0});
  Value* k = g.add_constant(std::const_pointer_cast<TensorData>(kernel));
  k->layout = Layout::kFixed;
  g.outputs.push_back(tiny_op(g, "dense", {x, k, nullptr}, {1, 2}));
  std::string bytes = write_tflite(g);
  TfliteModelInfo info = read_tflite(bytes.data(), bytes.size());
  const auto& w = info.tensors[info.ops[0].inputs[1]];
  EXPECT_EQ(w.shape, (std::vector<int32_t>{2, 3}));
  bool found = false;
  for (size_t offset : info.buffer_offsets)
    found |= std::memcmp(bytes.data() + offset, torch_weight->bytes(), 24) == 0;
  EXPECT_TRUE(found);
  EXPECT_NE(kernel->permute_source(), nullptr);  // still lazy: never materialised
}

}  // namespace
}  // namespace ferry::tflite
