#pragma once

// The writer's model under construction: tensors, deduplicated constant buffers, operator
// codes and operators, serialised once at the end. Internal to cpp/tflite.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "tflite/ferry_tflite_generated.h"
#include "tflite/writer.h"

namespace ferry::tflite {

namespace fb = ferry::tflite_fb;

struct TensorRec {
  std::vector<int32_t> shape;
  std::vector<int32_t> signature;  // shape_signature: -1 at free sizes; empty when all fixed
  fb::TensorType type = fb::TensorType_FLOAT32;
  uint32_t buffer = 0;
  std::string name;
  bool variable = false;
  // Quantized: one scale (per tensor) or one per channel along `quantized_dimension`, with
  // its zero point (none given: zeros, the symmetric weights' case).
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  int32_t quantized_dimension = 0;
};

struct OpRec {
  uint32_t opcode = 0;
  std::vector<int32_t> inputs, outputs;
  fb::BuiltinOptions options_type = fb::BuiltinOptions_NONE;
  flatbuffers::Offset<void> options;
  int32_t origin = -1;  // ModelBuilder::origin(): the graph node it was written for
};

// One constant's bytes as the file stores them, described rather than computed: the raw
// bytes (borrowed, kept alive by `keep`) and, when they must be rearranged, the permutation
// and float16 cast that turn them into the stored bytes. Rearranged bytes are produced only
// while being written, straight into the flatbuffer or the file, one buffer at a time.
struct BufferRec {
  const uint8_t* raw = nullptr;
  size_t raw_size = 0;
  std::shared_ptr<const void> keep;
  Shape raw_shape;  // for the permutation
  DType raw_dtype = DType::kUInt8;
  std::vector<int64_t> perm;  // stored = raw.permute(perm); empty = as is
  bool half = false;          // raw float32 -> stored IEEE float16
  size_t size = 0;            // stored bytes

  bool direct() const { return perm.empty() && !half; }
  // Writes the `size` stored bytes to `out`.
  void fill(uint8_t* out) const;
};

// The serialised file: the flatbuffer, then (large-model layout) every constant's bytes at
// the offset its Buffer table records, 16-byte aligned.
class SerializedModel {
 public:
  SerializedModel(flatbuffers::DetachedBuffer flatbuffer,
                  std::vector<std::pair<uint64_t, BufferRec>> tail, uint64_t total);

  uint64_t size() const { return total_; }
  bool external_buffers() const { return !tail_.empty(); }
  // The whole file in memory.
  std::string bytes() const;
  // Streams the file; each rearranged buffer is materialised alone and freed after writing.
  // Throws TfliteError when the stream fails (disk full, ...).
  void write(std::FILE* file) const;

 private:
  flatbuffers::DetachedBuffer flatbuffer_;
  std::vector<std::pair<uint64_t, BufferRec>> tail_;
  uint64_t total_;
};

class ModelBuilder {
 public:
  explicit ModelBuilder(const WriteOptions& options = {});

  // Options tables are built straight into the final builder, before any operator.
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  int add_tensor(fb::TensorType type, const Shape& shape, std::string name);
  // Marks the tensor's free sizes (-1 in `signature`), so an interpreter may resize them.
  void set_signature(int index, std::vector<int32_t> signature) {
    sg().tensors.at(static_cast<size_t>(index)).signature = std::move(signature);
  }
  // A variable tensor: state that a kernel (UNIDIRECTIONAL_SEQUENCE_LSTM) reads and
  // overwrites in place, kept by the interpreter across invoke() calls.
  int add_variable(fb::TensorType type, const Shape& shape, std::string name);
  // A constant tensor; identical bytes share one buffer. `keep` owns `data` when given,
  // otherwise the bytes are copied. Stored exactly as given (never cast to float16).
  int add_constant(fb::TensorType type, const Shape& shape, const void* data, size_t size,
                   std::string name, std::shared_ptr<const void> keep = nullptr);
  // A constant holding `data` permuted by `perm` (empty = as is), read from the tensor's
  // source when `data` is itself a lazy permutation. With float16 weights on, a float32
  // tensor of rank 2+ and 16+ elements is stored as FLOAT16 and a DEQUANTIZE gives the float32
  // tensor that is returned (once per buffer and shape, shared by every use). `shape`, when given,
  // re-reads the stored bytes in another shape of equal size (depthwise filters [kh, kw, C, M] are
  // TFLite's [1, kh, kw, C*M]).
  // `channel_axis` marks a conv or dense kernel whose output channels lie along that axis of
  // the stored shape: with int8 weights on it is stored as INT8, symmetric per channel.
  int add_weights(const std::shared_ptr<const TensorData>& data, std::vector<int64_t> perm,
                  std::string name, const Shape& shape = {}, int channel_axis = -1);
  // Float32 values computed by the writer (folded batch norms, ...), as add_weights.
  int add_floats(std::vector<float> values, const Shape& shape, std::string name,
                 int channel_axis = -1);
  // Float32 values stored as INT8 with one symmetric scale for the whole tensor (an LSTM
  // gate matrix: the only form the builtin's hybrid kernel reads).
  int add_int8_per_tensor(const std::vector<float>& values, const Shape& shape, std::string name);
  int add_int32(const std::vector<int32_t>& values, const Shape& shape, std::string name);
  int add_float_scalar(float value, std::string name);
  // The version of a conv or dense op whose float kernel would be `version`: the hybrid
  // kernels (float input, INT8 weights per channel) have their own.
  int hybrid_version(int kernel, fb::BuiltinOperator code, int version) const;

  void add_op(fb::BuiltinOperator code, int version, std::vector<int32_t> inputs,
              std::vector<int32_t> outputs,
              fb::BuiltinOptions options_type = fb::BuiltinOptions_NONE,
              flatbuffers::Offset<void> options = 0);

  const TensorRec& tensor(int index) const { return sg().tensors.at(index); }
  size_t num_ops() const { return sg().ops.size(); }

  // The graph node the next operators are written for (its PyTorch scope and TF-level op):
  // a pass over the written model (quantize.h) decides per node and names nodes in messages.
  void set_origin(const std::string& scope, const std::string& op);
  struct Origin {
    std::string scope, op;
  };
  const Origin* origin(const OpRec& op) const {
    return op.origin < 0 ? nullptr : &origins_[static_cast<size_t>(op.origin)];
  }

  // For passes that rewrite the written model (quantize.h), on the current subgraph.
  TensorRec& mutable_tensor(int index) { return sg().tensors.at(static_cast<size_t>(index)); }
  size_t num_tensors() const { return sg().tensors.size(); }
  std::vector<OpRec>& ops() { return sg().ops; }
  std::pair<int32_t, int> opcode(const OpRec& op) const { return opcodes_.at(op.opcode); }
  // An operator not yet placed in any subgraph (the pass orders them itself).
  OpRec make_op(fb::BuiltinOperator code, int version, std::vector<int32_t> inputs,
                std::vector<int32_t> outputs);
  void set_version(OpRec& op, int version);
  const BufferRec& buffer(uint32_t index) const { return buffers_.at(index); }
  // A constant tensor over bytes the builder keeps.
  int add_owned_constant(fb::TensorType type, std::vector<int32_t> shape,
                         std::vector<uint8_t> bytes, std::string name);

  // Subgraphs: tensors and operators go to the current one (0, "main", at first). Buffers and
  // operator codes are shared by all. A control-flow op names the others by index.
  int add_subgraph(std::string name);
  int current_subgraph() const { return static_cast<int>(current_); }
  size_t num_subgraphs() const { return subgraphs_.size(); }
  void select_subgraph(int index) { current_ = static_cast<size_t>(index); }
  void set_subgraph_io(std::vector<int> inputs, std::vector<int> outputs);

  struct Signature {
    std::vector<std::pair<std::string, int>> inputs, outputs;
  };
  // Drops the current subgraph's tensors no operator, input or output refers to any more (a
  // rewriting pass replaced them), then the buffers and operator codes nothing refers to;
  // renumbers the rest, keeping their order. Returns old tensor index -> new (-1: dropped).
  std::vector<int> drop_unused(std::vector<int>& inputs, std::vector<int>& outputs,
                               Signature& signature);
  SerializedModel finish(const std::vector<int>& inputs, const std::vector<int>& outputs,
                         const Signature& signature);

 private:
  uint32_t add_buffer(BufferRec rec);
  int add_float_buffer(BufferRec rec, const Shape& shape, std::string name, int channel_axis);
  // `channel_axis` -1: one scale for the whole tensor.
  int add_int8_kernel(const BufferRec& rec, const Shape& shape, std::string name, int channel_axis);
  std::string min_runtime_version() const;

  struct SubgraphRec {
    std::string name;
    std::vector<TensorRec> tensors;
    std::vector<OpRec> ops;
    std::vector<int32_t> inputs, outputs;
    // float16 buffer and shape -> the DEQUANTIZE output (tensor indices are per subgraph)
    std::map<std::pair<uint32_t, std::vector<int32_t>>, int> dequantized;
  };
  SubgraphRec& sg() { return subgraphs_[current_]; }
  const SubgraphRec& sg() const { return subgraphs_[current_]; }

  WriteOptions options_;
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<SubgraphRec> subgraphs_;
  size_t current_ = 0;
  std::vector<BufferRec> buffers_;  // [0] is the empty sentinel
  std::unordered_map<uint64_t, std::vector<uint32_t>> buffers_by_hash_;
  // (code, version) -> opcode index, ordered by first use for determinism.
  std::map<std::pair<int32_t, int>, uint32_t> opcode_index_;
  std::vector<std::pair<int32_t, int>> opcodes_;
  std::vector<Origin> origins_;
  int32_t current_origin_ = -1;
};

// TensorType of a Ferry dtype; throws TfliteError for types TFLite has no tensor type for.
fb::TensorType tensor_type(DType dtype);

// IEEE 754 binary16 nearest to `value` (ties to even; overflow gives infinity).
uint16_t float_to_half(float value);

}  // namespace ferry::tflite
