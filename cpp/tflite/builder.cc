#include "tflite/builder.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>

#include "tflite/writer.h"

namespace ferry::tflite {
namespace {

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

using RuntimeVersion = std::array<int, 3>;

// The first TFLite runtime that registers each (op, version) Ferry emits; the model's
// `min_runtime_version` metadata is the maximum over its operators. Unlisted pairs count as
// 1.5.0, the oldest runtime with the flatbuffer format.
RuntimeVersion runtime_for(int32_t code, int version) {
  switch (code) {
    case fb::BuiltinOperator_DEPTHWISE_CONV_2D:
      return version >= 2 ? RuntimeVersion{1, 12, 0} : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_FULLY_CONNECTED:
      return version >= 5 ? RuntimeVersion{2, 0, 0} : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_MEAN:
      return {1, 6, 0};
    case fb::BuiltinOperator_PADV2:
      return version >= 4 ? RuntimeVersion{2, 6, 0} : RuntimeVersion{1, 9, 0};
    case fb::BuiltinOperator_MAXIMUM:
    case fb::BuiltinOperator_MINIMUM:
      return version >= 3 ? RuntimeVersion{2, 3, 0} : RuntimeVersion{1, 14, 0};
    case fb::BuiltinOperator_HARD_SWISH:
      return {1, 15, 0};
    case fb::BuiltinOperator_RSQRT:
      return {1, 10, 0};
    case fb::BuiltinOperator_SQUARED_DIFFERENCE:
      return {1, 13, 1};
    case fb::BuiltinOperator_RESIZE_BILINEAR:
      return version >= 3 ? RuntimeVersion{2, 2, 0} : RuntimeVersion{1, 7, 0};
    case fb::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR:
      return version >= 3 ? RuntimeVersion{2, 3, 0} : RuntimeVersion{1, 13, 1};
    case fb::BuiltinOperator_BATCH_MATMUL:
      return {2, 3, 0};
    case fb::BuiltinOperator_GELU:
      return {2, 9, 0};
    // writer_ops_math.cc, writer_ops_tensor.cc, writer_ops_conv3d.cc and rank-5/6 versions:
    case fb::BuiltinOperator_SUB:
      return version >= 4   ? RuntimeVersion{2, 4, 0}
             : version >= 3 ? RuntimeVersion{2, 3, 0}
                            : RuntimeVersion{1, 6, 0};
    case fb::BuiltinOperator_DIV:
      return version >= 2 ? RuntimeVersion{2, 3, 0} : RuntimeVersion{1, 6, 0};
    case fb::BuiltinOperator_STRIDED_SLICE:
      return version >= 4   ? RuntimeVersion{2, 2, 0}
             : version >= 3 ? RuntimeVersion{2, 1, 0}
                            : RuntimeVersion{1, 6, 0};
    case fb::BuiltinOperator_TRANSPOSE:
      return version >= 6   ? RuntimeVersion{2, 12, 0}
             : version >= 4 ? RuntimeVersion{2, 3, 0}
             : version >= 3 ? RuntimeVersion{1, 15, 0}
                            : RuntimeVersion{1, 6, 0};
    case fb::BuiltinOperator_ADD:  // 4: int64
    case fb::BuiltinOperator_PAD:  // 4: 5-D
      return version >= 4 ? RuntimeVersion{2, 6, 0} : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_MUL:  // 5: int64
      return version >= 5 ? RuntimeVersion{2, 6, 0} : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_GATHER:
      return version >= 3 ? RuntimeVersion{1, 15, 0} : RuntimeVersion{1, 6, 0};
    case fb::BuiltinOperator_ABS:
      return version >= 5 ? RuntimeVersion{2, 12, 0} : RuntimeVersion{1, 13, 0};
    case fb::BuiltinOperator_CAST:
      return version >= 5   ? RuntimeVersion{2, 12, 0}
             : version >= 3 ? RuntimeVersion{2, 8, 0}
                            : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_EXP:
      return {1, 7, 0};
    case fb::BuiltinOperator_NEG:
    case fb::BuiltinOperator_FLOOR:
    case fb::BuiltinOperator_SIN:
      return {1, 9, 0};
    case fb::BuiltinOperator_SQRT:
    case fb::BuiltinOperator_POW:
    case fb::BuiltinOperator_SUM:
      return {1, 10, 0};
    case fb::BuiltinOperator_LOGICAL_NOT:
    case fb::BuiltinOperator_LOGICAL_AND:
    case fb::BuiltinOperator_LOGICAL_OR:
    case fb::BuiltinOperator_REDUCE_MAX:
    case fb::BuiltinOperator_REDUCE_MIN:
    case fb::BuiltinOperator_REDUCE_PROD:
      return {1, 11, 0};
    case fb::BuiltinOperator_FLOOR_MOD:
      return {1, 13, 0};
    case fb::BuiltinOperator_LEAKY_RELU:
      return {1, 13, 1};
    case fb::BuiltinOperator_LOG:
    case fb::BuiltinOperator_CEIL:
    case fb::BuiltinOperator_ROUND:
    case fb::BuiltinOperator_COS:
    case fb::BuiltinOperator_ELU:
    case fb::BuiltinOperator_LOG_SOFTMAX:
    case fb::BuiltinOperator_FLOOR_DIV:
    case fb::BuiltinOperator_EQUAL:
    case fb::BuiltinOperator_NOT_EQUAL:
    case fb::BuiltinOperator_LESS:
    case fb::BuiltinOperator_LESS_EQUAL:
    case fb::BuiltinOperator_GREATER:
    case fb::BuiltinOperator_GREATER_EQUAL:
      return {1, 14, 0};
    case fb::BuiltinOperator_SELECT_V2:
      return {2, 2, 0};
    case fb::BuiltinOperator_BROADCAST_TO:  // version 2, the first one
    case fb::BuiltinOperator_CONV_3D:
      return {2, 5, 0};
    case fb::BuiltinOperator_DYNAMIC_UPDATE_SLICE:
      return {2, 9, 0};
    default:
      return {1, 5, 0};
  }
}

}  // namespace

fb::TensorType tensor_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return fb::TensorType_FLOAT32;
    case DType::kFloat16:
      return fb::TensorType_FLOAT16;
    case DType::kFloat64:
      return fb::TensorType_FLOAT64;
    case DType::kInt64:
      return fb::TensorType_INT64;
    case DType::kInt32:
      return fb::TensorType_INT32;
    case DType::kInt16:
      return fb::TensorType_INT16;
    case DType::kInt8:
      return fb::TensorType_INT8;
    case DType::kUInt8:
      return fb::TensorType_UINT8;
    case DType::kBool:
      return fb::TensorType_BOOL;
    case DType::kBFloat16:
      break;
  }
  throw TfliteError("TFLite writer: tensors of type " + std::string(dtype_name(dtype)) +
                    " have no TFLite type");
}

ModelBuilder::ModelBuilder() : fbb_(1 << 20) { buffers_.emplace_back(); }

int ModelBuilder::add_tensor(fb::TensorType type, const Shape& shape, std::string name) {
  TensorRec t;
  for (int64_t d : shape) t.shape.push_back(static_cast<int32_t>(d));
  t.type = type;
  t.name = std::move(name);
  tensors_.push_back(std::move(t));
  return static_cast<int>(tensors_.size() - 1);
}

uint32_t ModelBuilder::add_buffer(const void* data, size_t size, std::shared_ptr<const void> keep) {
  auto bytes = static_cast<const uint8_t*>(data);
  uint64_t h = fnv1a(bytes, size);
  auto& same_hash = buffers_by_hash_[h];
  for (uint32_t index : same_hash) {
    const BufferRec& b = buffers_[index];
    if (b.size == size && std::memcmp(b.data(), bytes, size) == 0) return index;
  }
  BufferRec rec;
  rec.size = size;
  if (keep) {
    rec.keep = std::move(keep);
    rec.external = bytes;
  } else {
    rec.owned.assign(bytes, bytes + size);
  }
  buffers_.push_back(std::move(rec));
  auto index = static_cast<uint32_t>(buffers_.size() - 1);
  same_hash.push_back(index);
  return index;
}

int ModelBuilder::add_constant(fb::TensorType type, const Shape& shape, const void* data,
                               size_t size, std::string name, std::shared_ptr<const void> keep) {
  int index = add_tensor(type, shape, std::move(name));
  // A zero-size constant keeps the sentinel: there are no bytes to point at.
  if (size > 0) tensors_[index].buffer = add_buffer(data, size, std::move(keep));
  return index;
}

int ModelBuilder::add_int32(const std::vector<int32_t>& values, const Shape& shape,
                            std::string name) {
  return add_constant(fb::TensorType_INT32, shape, values.data(), values.size() * 4,
                      std::move(name));
}

int ModelBuilder::add_float_scalar(float value, std::string name) {
  return add_constant(fb::TensorType_FLOAT32, {}, &value, sizeof value, std::move(name));
}

void ModelBuilder::add_op(fb::BuiltinOperator code, int version, std::vector<int32_t> inputs,
                          std::vector<int32_t> outputs, fb::BuiltinOptions options_type,
                          flatbuffers::Offset<void> options) {
  auto key = std::make_pair(static_cast<int32_t>(code), version);
  auto [it, inserted] = opcode_index_.emplace(key, static_cast<uint32_t>(opcodes_.size()));
  if (inserted) opcodes_.push_back(key);
  OpRec op;
  op.opcode = it->second;
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.options_type = options_type;
  op.options = options;
  ops_.push_back(std::move(op));
}

std::string ModelBuilder::min_runtime_version() const {
  RuntimeVersion best{1, 5, 0};
  for (const auto& [code, version] : opcodes_) best = std::max(best, runtime_for(code, version));
  return std::to_string(best[0]) + "." + std::to_string(best[1]) + "." + std::to_string(best[2]);
}

std::string ModelBuilder::finish(const std::vector<int>& inputs, const std::vector<int>& outputs,
                                 const Signature& signature) {
  auto& b = fbb_;
  // Constant bytes first, each vector 16-byte aligned (XNNPACK and mmap'd loads read them in
  // place), then the metadata string as one more buffer.
  std::string runtime = min_runtime_version();
  runtime.resize(16, '\0');  // a fixed-size field, as runtimes that parse it expect
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  for (const BufferRec& rec : buffers_) {
    if (rec.size == 0) {
      buffers.push_back(fb::CreateBuffer(b));
      continue;
    }
    b.ForceVectorAlignment(rec.size, 1, 16);
    buffers.push_back(fb::CreateBuffer(b, b.CreateVector(rec.data(), rec.size)));
  }
  b.ForceVectorAlignment(runtime.size(), 1, 16);
  auto runtime_data =
      b.CreateVector(reinterpret_cast<const uint8_t*>(runtime.data()), runtime.size());
  buffers.push_back(fb::CreateBuffer(b, runtime_data));
  auto runtime_buffer = static_cast<uint32_t>(buffers.size() - 1);

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const TensorRec& t : tensors_) {
    tensors.push_back(
        fb::CreateTensor(b, b.CreateVector(t.shape), t.type, t.buffer, b.CreateString(t.name)));
  }
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  for (const OpRec& op : ops_) {
    ops.push_back(fb::CreateOperator(b, op.opcode, b.CreateVector(op.inputs),
                                     b.CreateVector(op.outputs), op.options_type, op.options));
  }
  std::vector<flatbuffers::Offset<fb::OperatorCode>> codes;
  for (const auto& [code, version] : opcodes_) {
    auto deprecated = static_cast<int8_t>(std::min<int32_t>(code, 127));
    codes.push_back(
        fb::CreateOperatorCode(b, deprecated, 0, version, static_cast<fb::BuiltinOperator>(code)));
  }
  std::vector<int32_t> in(inputs.begin(), inputs.end()), out(outputs.begin(), outputs.end());
  auto subgraph =
      fb::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(in), b.CreateVector(out),
                         b.CreateVector(ops), b.CreateString("main"));

  auto maps = [&](const std::vector<std::pair<std::string, int>>& items) {
    std::vector<flatbuffers::Offset<fb::TensorMap>> v;
    for (const auto& [name, index] : items)
      v.push_back(fb::CreateTensorMap(b, b.CreateString(name), static_cast<uint32_t>(index)));
    return b.CreateVector(v);
  };
  auto sig_in = maps(signature.inputs);
  auto sig_out = maps(signature.outputs);
  auto sig = fb::CreateSignatureDef(b, sig_in, sig_out, b.CreateString("serving_default"), 0, 0);
  auto metadata = fb::CreateMetadata(b, b.CreateString("min_runtime_version"), runtime_buffer);

  auto model = fb::CreateModel(b, 3, b.CreateVector(codes), b.CreateVector(&subgraph, 1),
                               b.CreateString("Ferry"), b.CreateVector(buffers), 0,
                               b.CreateVector(&metadata, 1), b.CreateVector(&sig, 1));
  fb::FinishModelBuffer(b, model);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace ferry::tflite
