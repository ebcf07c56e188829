#pragma once

// The writer's model under construction: tensors, deduplicated constant buffers, operator
// codes and operators, serialised once at the end. Internal to cpp/tflite.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "tflite/ferry_tflite_generated.h"

namespace ferry::tflite {

namespace fb = ferry::tflite_fb;

struct TensorRec {
  std::vector<int32_t> shape;
  fb::TensorType type = fb::TensorType_FLOAT32;
  uint32_t buffer = 0;
  std::string name;
};

struct OpRec {
  uint32_t opcode = 0;
  std::vector<int32_t> inputs, outputs;
  fb::BuiltinOptions options_type = fb::BuiltinOptions_NONE;
  flatbuffers::Offset<void> options;
};

class ModelBuilder {
 public:
  ModelBuilder();

  // Options tables are built straight into the final builder, before any operator.
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  int add_tensor(fb::TensorType type, const Shape& shape, std::string name);
  // A constant tensor; identical bytes share one buffer. `keep` owns `data` when given,
  // otherwise the bytes are copied.
  int add_constant(fb::TensorType type, const Shape& shape, const void* data, size_t size,
                   std::string name, std::shared_ptr<const void> keep = nullptr);
  int add_int32(const std::vector<int32_t>& values, const Shape& shape, std::string name);
  int add_float_scalar(float value, std::string name);

  void add_op(fb::BuiltinOperator code, int version, std::vector<int32_t> inputs,
              std::vector<int32_t> outputs,
              fb::BuiltinOptions options_type = fb::BuiltinOptions_NONE,
              flatbuffers::Offset<void> options = 0);

  const TensorRec& tensor(int index) const { return tensors_.at(index); }
  size_t num_ops() const { return ops_.size(); }

  struct Signature {
    std::vector<std::pair<std::string, int>> inputs, outputs;
  };
  std::string finish(const std::vector<int>& inputs, const std::vector<int>& outputs,
                     const Signature& signature);

 private:
  struct BufferRec {
    std::shared_ptr<const void> keep;
    std::vector<uint8_t> owned;
    const uint8_t* external = nullptr;
    size_t size = 0;
    const uint8_t* data() const { return external ? external : owned.data(); }
  };
  uint32_t add_buffer(const void* data, size_t size, std::shared_ptr<const void> keep);
  std::string min_runtime_version() const;

  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<TensorRec> tensors_;
  std::vector<BufferRec> buffers_;  // [0] is the empty sentinel
  std::unordered_map<uint64_t, std::vector<uint32_t>> buffers_by_hash_;
  std::vector<OpRec> ops_;
  // (code, version) -> opcode index, ordered by first use for determinism.
  std::map<std::pair<int32_t, int>, uint32_t> opcode_index_;
  std::vector<std::pair<int32_t, int>> opcodes_;
};

// TensorType of a Ferry dtype; throws TfliteError for types TFLite has no tensor type for.
fb::TensorType tensor_type(DType dtype);

}  // namespace ferry::tflite
