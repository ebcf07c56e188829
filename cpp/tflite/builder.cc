#include "tflite/builder.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "ir/tensor_data.h"

namespace ferry::tflite {
namespace {

// Eight bytes per step: deduplication hashes every weight once, gigabytes for large models.
uint64_t hash_bytes(const uint8_t* data, size_t size) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

// Constants approaching this stay out of the flatbuffer (which must stay below 2 GiB).
constexpr uint64_t kInlineLimit = (uint64_t{1} << 31) - (uint64_t{256} << 20);
// A value > 1 that marks an offset to patch once the flatbuffer's size is known.
constexpr uint64_t kOffsetPlaceholder = std::numeric_limits<uint64_t>::max();

uint64_t align16(uint64_t n) { return (n + 15) & ~uint64_t{15}; }

using RuntimeVersion = std::array<int, 3>;

// The first TFLite runtime that registers each (op, version) Ferry emits; the model's
// `min_runtime_version` metadata is the maximum over its operators. Unlisted pairs count as
// 1.5.0, the oldest runtime with the flatbuffer format.
RuntimeVersion runtime_for(int32_t code, int version) {
  switch (code) {
    case fb::BuiltinOperator_DEPTHWISE_CONV_2D:  // 6: hybrid, per channel
      return version >= 6   ? RuntimeVersion{2, 3, 0}
             : version >= 2 ? RuntimeVersion{1, 12, 0}
                            : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_CONV_2D:  // 5: hybrid, per channel; 6: grouped
      return version >= 6   ? RuntimeVersion{2, 9, 0}
             : version >= 5 ? RuntimeVersion{2, 4, 0}
                            : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_FULLY_CONNECTED:
      // 12: hybrid, per channel, newer than the runtime table this one follows (it ends at 9);
      // the release that added it.
      return version >= 12  ? RuntimeVersion{2, 16, 0}
             : version >= 5 ? RuntimeVersion{2, 0, 0}
                            : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_MEAN:
      return {1, 6, 0};
    case fb::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM:  // 2: hybrid
      return version >= 2 ? RuntimeVersion{1, 14, 0} : RuntimeVersion{1, 13, 1};
    case fb::BuiltinOperator_FILL:
      return {1, 13, 0};
    case fb::BuiltinOperator_PADV2:
      return version >= 4 ? RuntimeVersion{2, 6, 0} : RuntimeVersion{1, 9, 0};
    case fb::BuiltinOperator_MAXIMUM:
    case fb::BuiltinOperator_MINIMUM:
      return version >= 3 ? RuntimeVersion{2, 3, 0} : RuntimeVersion{1, 14, 0};
    case fb::BuiltinOperator_HARD_SWISH:
      return {1, 15, 0};
    case fb::BuiltinOperator_IF:
    case fb::BuiltinOperator_WHILE:
      return {1, 15, 0};
    case fb::BuiltinOperator_RSQRT:
    case fb::BuiltinOperator_SHAPE:
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
    case fb::BuiltinOperator_DEQUANTIZE:
      return version >= 3 ? RuntimeVersion{1, 15, 0} : RuntimeVersion{1, 13, 1};
    case fb::BuiltinOperator_LOGISTIC:
    case fb::BuiltinOperator_TANH:
      return {1, 14, 0};
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
    case fb::BuiltinOperator_MIRROR_PAD:
      return {1, 13, 1};
    case fb::BuiltinOperator_SPACE_TO_DEPTH:
      return version >= 2 ? RuntimeVersion{1, 14, 0} : RuntimeVersion{1, 5, 0};
    case fb::BuiltinOperator_DEPTH_TO_SPACE:
      return version >= 2 ? RuntimeVersion{2, 5, 0} : RuntimeVersion{2, 1, 0};
    case fb::BuiltinOperator_BROADCAST_TO:  // version 2, the first one
    case fb::BuiltinOperator_CONV_3D:
      return {2, 5, 0};
    case fb::BuiltinOperator_DYNAMIC_UPDATE_SLICE:
      return {2, 9, 0};
    // writer_ops_scan.cc, and the bool reductions and ATAN2 of writer_ops_tensor.cc / _math.cc:
    case fb::BuiltinOperator_REDUCE_ANY:
      return {1, 11, 0};
    case fb::BuiltinOperator_REVERSE_V2:  // 2: bool
      return version >= 2 ? RuntimeVersion{2, 2, 0} : RuntimeVersion{1, 14, 0};
    case fb::BuiltinOperator_CUMSUM:
      return {2, 4, 0};
    case fb::BuiltinOperator_REDUCE_ALL:
      return {2, 6, 0};
    case fb::BuiltinOperator_ATAN2:
      return {2, 10, 0};
    case fb::BuiltinOperator_TOPK_V2:
      return {1, 7, 0};
    case fb::BuiltinOperator_SCATTER_ND:
      return {2, 1, 0};
    case fb::BuiltinOperator_TRANSPOSE_CONV:  // 3: the bias input
      return version >= 3 ? RuntimeVersion{2, 3, 0} : RuntimeVersion{1, 9, 0};
    case fb::BuiltinOperator_CONV_3D_TRANSPOSE:
      return {2, 6, 0};
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

uint16_t float_to_half(float value) {
  const uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t exponent = (f >> 23) & 0xffu;
  uint32_t mantissa = f & 0x7fffffu;
  if (exponent == 0xff)  // infinity stays infinity; NaN stays a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0));
  const int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // too large: infinity
  if (e <= 0) {
    // Subnormal (or zero): shift the full significand into place, rounding to nearest even.
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

void BufferRec::fill(uint8_t* out) const {
  if (direct()) {
    std::memcpy(out, raw, size);
    return;
  }
  const uint8_t* floats = raw;
  std::vector<uint8_t> permuted;
  if (!perm.empty()) {
    // A borrowed view of the raw bytes does the permutation (no copy of the source).
    TensorData view(raw_dtype, raw_shape, reinterpret_cast<const std::byte*>(raw), nullptr);
    if (!half) {
      view.permute_into(perm, reinterpret_cast<std::byte*>(out));
      return;
    }
    permuted.resize(raw_size);
    view.permute_into(perm, reinterpret_cast<std::byte*>(permuted.data()));
    floats = permuted.data();
  }
  const size_t count = raw_size / 4;
  for (size_t i = 0; i < count; ++i) {
    float f;
    std::memcpy(&f, floats + 4 * i, 4);
    const uint16_t h = float_to_half(f);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

SerializedModel::SerializedModel(flatbuffers::DetachedBuffer flatbuffer,
                                 std::vector<std::pair<uint64_t, BufferRec>> tail, uint64_t total)
    : flatbuffer_(std::move(flatbuffer)), tail_(std::move(tail)), total_(total) {}

std::string SerializedModel::bytes() const {
  std::string out(total_, '\0');
  std::memcpy(out.data(), flatbuffer_.data(), flatbuffer_.size());
  for (const auto& [offset, rec] : tail_) rec.fill(reinterpret_cast<uint8_t*>(out.data()) + offset);
  return out;
}

void SerializedModel::write(std::FILE* file) const {
  auto put = [&](const void* data, size_t size) {
    if (size && std::fwrite(data, 1, size, file) != size)
      throw TfliteError("TFLite writer: writing the file failed (disk full?)");
  };
  put(flatbuffer_.data(), flatbuffer_.size());
  uint64_t at = flatbuffer_.size();
  static const uint8_t zeros[16] = {};
  std::vector<uint8_t> scratch;
  for (const auto& [offset, rec] : tail_) {
    put(zeros, offset - at);
    if (rec.direct()) {
      put(rec.raw, rec.size);
    } else {
      scratch.resize(rec.size);
      rec.fill(scratch.data());
      put(scratch.data(), rec.size);
      std::vector<uint8_t>().swap(scratch);  // never hold two rearranged buffers at once
    }
    at = offset + rec.size;
  }
  put(zeros, total_ - at);
  if (std::fflush(file) != 0) throw TfliteError("TFLite writer: writing the file failed");
}

ModelBuilder::ModelBuilder(const WriteOptions& options) : options_(options), fbb_(1 << 20) {
  buffers_.emplace_back();
  subgraphs_.push_back({"main", {}, {}, {}, {}, {}});
}

int ModelBuilder::add_subgraph(std::string name) {
  subgraphs_.push_back({std::move(name), {}, {}, {}, {}, {}});
  return static_cast<int>(subgraphs_.size() - 1);
}

void ModelBuilder::set_subgraph_io(std::vector<int> inputs, std::vector<int> outputs) {
  sg().inputs.assign(inputs.begin(), inputs.end());
  sg().outputs.assign(outputs.begin(), outputs.end());
}

int ModelBuilder::add_tensor(fb::TensorType type, const Shape& shape, std::string name) {
  TensorRec t;
  for (int64_t d : shape) t.shape.push_back(static_cast<int32_t>(d));
  t.type = type;
  t.name = std::move(name);
  sg().tensors.push_back(std::move(t));
  return static_cast<int>(sg().tensors.size() - 1);
}

int ModelBuilder::add_variable(fb::TensorType type, const Shape& shape, std::string name) {
  int index = add_tensor(type, shape, std::move(name));
  sg().tensors[index].variable = true;
  return index;
}

uint32_t ModelBuilder::add_buffer(BufferRec rec) {
  uint64_t h = hash_bytes(rec.raw, rec.raw_size);
  for (int64_t p : rec.perm) h = (h ^ static_cast<uint64_t>(p)) * 0x100000001b3ull;
  h ^= rec.half ? 0x5bd1e995u : 0;
  auto& same_hash = buffers_by_hash_[h];
  for (uint32_t index : same_hash) {
    const BufferRec& b = buffers_[index];
    if (b.size == rec.size && b.raw_size == rec.raw_size && b.perm == rec.perm &&
        b.half == rec.half && (b.perm.empty() || b.raw_shape == rec.raw_shape) &&
        std::memcmp(b.raw, rec.raw, rec.raw_size) == 0)
      return index;
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
  if (size == 0) return index;
  BufferRec rec;
  if (!keep) {
    auto copy = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(data),
                                                       static_cast<const uint8_t*>(data) + size);
    rec.raw = copy->data();
    keep = std::move(copy);
  } else {
    rec.raw = static_cast<const uint8_t*>(data);
  }
  rec.keep = std::move(keep);
  rec.raw_size = rec.size = size;
  sg().tensors[index].buffer = add_buffer(std::move(rec));
  return index;
}

int ModelBuilder::add_int8_kernel(const BufferRec& rec, const Shape& shape, std::string name,
                                  int channel_axis) {
  std::vector<float> values(static_cast<size_t>(num_elements(shape)));
  rec.fill(reinterpret_cast<uint8_t*>(values.data()));  // in stored order
  const bool per_tensor = channel_axis < 0;
  const auto axis = static_cast<size_t>(per_tensor ? 0 : channel_axis);
  const int64_t channels = per_tensor ? 1 : shape.at(axis);
  int64_t inner = 1;
  for (size_t d = per_tensor ? 0 : axis + 1; d < shape.size(); ++d) inner *= shape[d];
  auto channel_of = [&](size_t i) { return static_cast<int64_t>(i) / inner % channels; };
  std::vector<float> scales(static_cast<size_t>(channels), 0.0f);
  for (size_t i = 0; i < values.size(); ++i) {
    float& s = scales[static_cast<size_t>(channel_of(i))];
    s = std::max(s, std::fabs(values[i]));
  }
  for (float& s : scales) s = s > 0 ? s / 127.0f : 1.0f;  // an all-zero channel keeps zeros
  auto q = std::make_shared<std::vector<int8_t>>(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const float r = std::nearbyint(values[i] / scales[static_cast<size_t>(channel_of(i))]);
    (*q)[i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  const int index = add_constant(fb::TensorType_INT8, shape, q->data(), q->size(), std::move(name),
                                 std::shared_ptr<const void>(q, q->data()));
  sg().tensors[index].scales = std::move(scales);
  sg().tensors[index].quantized_dimension = per_tensor ? 0 : channel_axis;
  return index;
}

int ModelBuilder::add_int8_per_tensor(const std::vector<float>& values, const Shape& shape,
                                      std::string name) {
  BufferRec rec;
  rec.raw = reinterpret_cast<const uint8_t*>(values.data());
  rec.raw_size = rec.size = values.size() * sizeof(float);
  rec.raw_dtype = DType::kFloat32;
  return add_int8_kernel(rec, shape, std::move(name), -1);  // read here, before `values` goes
}

int ModelBuilder::hybrid_version(int kernel, fb::BuiltinOperator code, int version) const {
  if (tensor(kernel).type != fb::TensorType_INT8) return version;
  switch (code) {
    case fb::BuiltinOperator_CONV_2D:
      return 5;
    case fb::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM:
      return 2;  // float input and output, INT8 weights, inputs quantized symmetrically
    default:
      return 12;  // FULLY_CONNECTED, per channel
  }
}

int ModelBuilder::add_float_buffer(BufferRec rec, const Shape& shape, std::string name,
                                   int channel_axis) {
  if (options_.int8_weights && channel_axis >= 0 && shape.size() >= 2)
    return add_int8_kernel(rec, shape, std::move(name), channel_axis);
  // Weights (rank 2 and up) only: biases and scalars are tiny, and keeping them float32
  // keeps the additive terms exact.
  const bool half = options_.float16_weights && shape.size() >= 2 && num_elements(shape) >= 16;
  if (!half) {
    int index = add_tensor(fb::TensorType_FLOAT32, shape, std::move(name));
    if (rec.size > 0) sg().tensors[index].buffer = add_buffer(std::move(rec));
    return index;
  }
  rec.half = true;
  rec.size = rec.raw_size / 2;
  uint32_t buffer = add_buffer(std::move(rec));
  std::vector<int32_t> dims(shape.begin(), shape.end());
  auto [it, inserted] = sg().dequantized.try_emplace({buffer, dims}, -1);
  if (!inserted) return it->second;
  // The float16 bytes, then the float32 tensor every consumer reads: XNNPACK folds the
  // DEQUANTIZE into the consumer's packed weights once, at load time.
  int stored = add_tensor(fb::TensorType_FLOAT16, shape, name + "/float16");
  sg().tensors[stored].buffer = buffer;
  int out = add_tensor(fb::TensorType_FLOAT32, shape, std::move(name));
  add_op(fb::BuiltinOperator_DEQUANTIZE, 3, {stored}, {out});
  it->second = out;
  return out;
}

int ModelBuilder::add_weights(const std::shared_ptr<const TensorData>& data,
                              std::vector<int64_t> perm, std::string name,
                              const Shape& stored_shape, int channel_axis) {
  const size_t rank = data->shape().size();
  if (perm.empty())
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(i));
  if (perm.size() != rank) throw TfliteError("TFLite writer: weight permutation of wrong rank");
  Shape shape(rank);
  for (size_t i = 0; i < rank; ++i) shape[i] = data->shape()[perm[i]];
  if (!stored_shape.empty() || rank == 0) {
    if (num_elements(stored_shape) != num_elements(shape))
      throw TfliteError("TFLite writer: weights of " + std::to_string(num_elements(shape)) +
                        " elements cannot be stored in another size");
    shape = stored_shape;
  }
  // Read a lazy permutation's source directly: one pass, no intermediate copy.
  const TensorData* raw = data.get();
  if (const TensorData* source = data->permute_source()) {
    perm = data->compose(perm);
    raw = source;
  }
  bool identity = true;
  for (size_t i = 0; i < rank; ++i) identity &= perm[i] == static_cast<int64_t>(i);
  BufferRec rec;
  rec.raw = reinterpret_cast<const uint8_t*>(raw->bytes());
  rec.raw_size = rec.size = raw->nbytes();
  rec.keep = data;  // a lazy tensor keeps its source alive
  rec.raw_shape = raw->shape();
  rec.raw_dtype = raw->dtype();
  if (!identity) rec.perm = std::move(perm);
  if (data->dtype() == DType::kFloat32)
    return add_float_buffer(std::move(rec), shape, name, channel_axis);
  int index = add_tensor(tensor_type(data->dtype()), shape, std::move(name));
  if (rec.size > 0) sg().tensors[index].buffer = add_buffer(std::move(rec));
  return index;
}

int ModelBuilder::add_floats(std::vector<float> values, const Shape& shape, std::string name,
                             int channel_axis) {
  auto owned = std::make_shared<std::vector<float>>(std::move(values));
  BufferRec rec;
  rec.raw = reinterpret_cast<const uint8_t*>(owned->data());
  rec.raw_size = rec.size = owned->size() * sizeof(float);
  rec.keep = std::move(owned);
  rec.raw_dtype = DType::kFloat32;
  return add_float_buffer(std::move(rec), shape, std::move(name), channel_axis);
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
  OpRec op = make_op(code, version, std::move(inputs), std::move(outputs));
  op.options_type = options_type;
  op.options = options;
  sg().ops.push_back(std::move(op));
}

void ModelBuilder::set_origin(const std::string& scope, const std::string& op) {
  origins_.push_back({scope, op});
  current_origin_ = static_cast<int32_t>(origins_.size() - 1);
}

OpRec ModelBuilder::make_op(fb::BuiltinOperator code, int version, std::vector<int32_t> inputs,
                            std::vector<int32_t> outputs) {
  auto key = std::make_pair(static_cast<int32_t>(code), version);
  auto [it, inserted] = opcode_index_.emplace(key, static_cast<uint32_t>(opcodes_.size()));
  if (inserted) opcodes_.push_back(key);
  OpRec op;
  op.opcode = it->second;
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.origin = current_origin_;
  return op;
}

void ModelBuilder::set_version(OpRec& op, int version) {
  auto key = std::make_pair(opcodes_.at(op.opcode).first, version);
  auto [it, inserted] = opcode_index_.emplace(key, static_cast<uint32_t>(opcodes_.size()));
  if (inserted) opcodes_.push_back(key);
  op.opcode = it->second;
}

int ModelBuilder::add_owned_constant(fb::TensorType type, std::vector<int32_t> shape,
                                     std::vector<uint8_t> bytes, std::string name) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const int index = add_tensor(type, {}, std::move(name));
  sg().tensors[static_cast<size_t>(index)].shape = std::move(shape);
  if (owned->empty()) return index;
  BufferRec rec;
  rec.raw = owned->data();
  rec.raw_size = rec.size = owned->size();
  rec.keep = std::move(owned);
  sg().tensors[static_cast<size_t>(index)].buffer = add_buffer(std::move(rec));
  return index;
}

std::vector<int> ModelBuilder::drop_unused(std::vector<int>& inputs, std::vector<int>& outputs,
                                           Signature& signature) {
  SubgraphRec& g = sg();
  std::vector<bool> used(g.tensors.size(), false);
  for (const OpRec& op : g.ops)
    for (const auto* list : {&op.inputs, &op.outputs})
      for (int32_t t : *list)
        if (t >= 0) used[static_cast<size_t>(t)] = true;
  for (const auto* list : {&inputs, &outputs})
    for (int t : *list) used[static_cast<size_t>(t)] = true;
  std::vector<int> map(g.tensors.size(), -1);
  std::vector<TensorRec> kept;
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    if (!used[t]) continue;
    map[t] = static_cast<int>(kept.size());
    kept.push_back(std::move(g.tensors[t]));
  }
  g.tensors = std::move(kept);
  for (OpRec& op : g.ops)
    for (auto* list : {&op.inputs, &op.outputs})
      for (int32_t& t : *list)
        if (t >= 0) t = map[static_cast<size_t>(t)];
  for (auto* list : {&inputs, &outputs})
    for (int& t : *list) t = map[static_cast<size_t>(t)];
  for (auto* items : {&signature.inputs, &signature.outputs})
    for (auto& item : *items) item.second = map[static_cast<size_t>(item.second)];
  g.dequantized.clear();

  std::vector<uint32_t> buffer_map(buffers_.size(), 0);
  std::vector<BufferRec> buffers{std::move(buffers_[0])};
  std::vector<uint32_t> code_map(opcodes_.size(), UINT32_MAX);
  std::vector<std::pair<int32_t, int>> codes;
  for (SubgraphRec& g : subgraphs_) {
    for (TensorRec& t : g.tensors) {
      if (t.buffer == 0) continue;
      if (buffer_map[t.buffer] == 0) {
        buffer_map[t.buffer] = static_cast<uint32_t>(buffers.size());
        buffers.push_back(std::move(buffers_[t.buffer]));
      }
      t.buffer = buffer_map[t.buffer];
    }
    for (OpRec& op : g.ops) {
      if (code_map[op.opcode] == UINT32_MAX) {
        code_map[op.opcode] = static_cast<uint32_t>(codes.size());
        codes.push_back(opcodes_[op.opcode]);
      }
      op.opcode = code_map[op.opcode];
    }
  }
  buffers_ = std::move(buffers);
  opcodes_ = std::move(codes);
  buffers_by_hash_.clear();  // no constant is added after a rewriting pass
  opcode_index_.clear();
  for (size_t i = 0; i < opcodes_.size(); ++i)
    opcode_index_.emplace(opcodes_[i], static_cast<uint32_t>(i));
  return map;
}

std::string ModelBuilder::min_runtime_version() const {
  RuntimeVersion best{1, 5, 0};
  for (const auto& [code, version] : opcodes_) best = std::max(best, runtime_for(code, version));
  return std::to_string(best[0]) + "." + std::to_string(best[1]) + "." + std::to_string(best[2]);
}

SerializedModel ModelBuilder::finish(const std::vector<int>& inputs,
                                     const std::vector<int>& outputs, const Signature& signature) {
  auto& b = fbb_;
  uint64_t constant_bytes = 0;
  for (const BufferRec& rec : buffers_) constant_bytes += align16(rec.size);
  const bool external =
      options_.placement == BufferPlacement::kExternal ||
      (options_.placement == BufferPlacement::kAuto && constant_bytes > kInlineLimit);
  if (!external && constant_bytes > kInlineLimit)
    throw TfliteError("TFLite writer: " + std::to_string(constant_bytes >> 20) +
                      " MiB of constants do not fit inside a flatbuffer (2 GiB at most); "
                      "use the large-model layout (external buffers)");

  // Inline: constant bytes first, each vector 16-byte aligned (XNNPACK and mmap'd loads read
  // them in place), rearranged ones computed straight into the builder. External: a Buffer
  // with a placeholder offset, patched once the flatbuffer's size is known.
  std::string runtime = min_runtime_version();
  runtime.resize(16, '\0');  // a fixed-size field, as runtimes that parse it expect
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  for (const BufferRec& rec : buffers_) {
    if (rec.size == 0) {
      buffers.push_back(fb::CreateBuffer(b));
    } else if (external) {
      buffers.push_back(fb::CreateBuffer(b, 0, kOffsetPlaceholder, rec.size));
    } else {
      b.ForceVectorAlignment(rec.size, 1, 16);
      uint8_t* out = nullptr;
      auto data = b.CreateUninitializedVector(rec.size, 1, &out);
      rec.fill(out);
      buffers.push_back(fb::CreateBuffer(b, data));
    }
  }
  auto inline_string = [&](const std::string& text) {
    b.ForceVectorAlignment(text.size(), 1, 16);
    auto data = b.CreateVector(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    buffers.push_back(fb::CreateBuffer(b, data));
    return static_cast<uint32_t>(buffers.size() - 1);
  };
  std::vector<flatbuffers::Offset<fb::Metadata>> metadata;
  metadata.push_back(
      fb::CreateMetadata(b, b.CreateString("min_runtime_version"), inline_string(runtime)));
  if (external) {
    metadata.push_back(fb::CreateMetadata(b, b.CreateString("buffer_location"),
                                          inline_string("outside flatbuffers")));
  }

  subgraphs_[0].inputs.assign(inputs.begin(), inputs.end());
  subgraphs_[0].outputs.assign(outputs.begin(), outputs.end());
  // Tensors and operators of every subgraph, then the codes, then the subgraph tables: for
  // one subgraph, the order (and so the bytes) of files written before subgraphs existed.
  std::vector<std::vector<flatbuffers::Offset<fb::Tensor>>> tensors(subgraphs_.size());
  std::vector<std::vector<flatbuffers::Offset<fb::Operator>>> ops(subgraphs_.size());
  for (size_t k = 0; k < subgraphs_.size(); ++k) {
    for (const TensorRec& t : subgraphs_[k].tensors) {
      // A tensor without free sizes is written exactly as before signatures existed.
      flatbuffers::Offset<flatbuffers::Vector<int32_t>> signature = 0;
      if (!t.signature.empty()) signature = b.CreateVector(t.signature);
      flatbuffers::Offset<fb::QuantizationParameters> quantization = 0;
      if (!t.scales.empty()) {
        std::vector<int64_t> zeros = t.zero_points;
        zeros.resize(t.scales.size(), 0);
        quantization = fb::CreateQuantizationParameters(
            b, 0, 0, b.CreateVector(t.scales), b.CreateVector(zeros), 0, 0, t.quantized_dimension);
      }
      tensors[k].push_back(fb::CreateTensor(b, b.CreateVector(t.shape), t.type, t.buffer,
                                            b.CreateString(t.name), quantization, t.variable, 0,
                                            signature));
    }
    for (const OpRec& op : subgraphs_[k].ops) {
      ops[k].push_back(fb::CreateOperator(b, op.opcode, b.CreateVector(op.inputs),
                                          b.CreateVector(op.outputs), op.options_type, op.options));
    }
  }
  std::vector<flatbuffers::Offset<fb::OperatorCode>> codes;
  for (const auto& [code, version] : opcodes_) {
    auto deprecated = static_cast<int8_t>(std::min<int32_t>(code, 127));
    codes.push_back(
        fb::CreateOperatorCode(b, deprecated, 0, version, static_cast<fb::BuiltinOperator>(code)));
  }
  std::vector<flatbuffers::Offset<fb::SubGraph>> subgraphs;
  for (size_t k = 0; k < subgraphs_.size(); ++k) {
    const SubgraphRec& g = subgraphs_[k];
    subgraphs.push_back(fb::CreateSubGraph(b, b.CreateVector(tensors[k]), b.CreateVector(g.inputs),
                                           b.CreateVector(g.outputs), b.CreateVector(ops[k]),
                                           b.CreateString(g.name)));
  }

  auto maps = [&](const std::vector<std::pair<std::string, int>>& items) {
    std::vector<flatbuffers::Offset<fb::TensorMap>> v;
    for (const auto& [name, index] : items)
      v.push_back(fb::CreateTensorMap(b, b.CreateString(name), static_cast<uint32_t>(index)));
    return b.CreateVector(v);
  };
  auto sig_in = maps(signature.inputs);
  auto sig_out = maps(signature.outputs);
  auto sig = fb::CreateSignatureDef(b, sig_in, sig_out, b.CreateString("serving_default"), 0, 0);

  auto model = fb::CreateModel(b, 3, b.CreateVector(codes), b.CreateVector(subgraphs),
                               b.CreateString("Ferry"), b.CreateVector(buffers), 0,
                               b.CreateVector(metadata), b.CreateVector(&sig, 1));
  fb::FinishModelBuffer(b, model);
  flatbuffers::DetachedBuffer flatbuffer = b.Release();

  std::vector<std::pair<uint64_t, BufferRec>> tail;
  uint64_t total = flatbuffer.size();
  if (external) {
    auto* stored = fb::GetMutableModel(flatbuffer.data())->mutable_buffers();
    for (size_t i = 0; i < buffers_.size(); ++i) {
      if (buffers_[i].size == 0) continue;
      const uint64_t offset = align16(total);
      stored->GetMutableObject(static_cast<flatbuffers::uoffset_t>(i))->mutate_offset(offset);
      total = offset + buffers_[i].size;
      tail.emplace_back(offset, std::move(buffers_[i]));
    }
    total = align16(total);
  }
  return SerializedModel(std::move(flatbuffer), std::move(tail), total);
}

}  // namespace ferry::tflite
