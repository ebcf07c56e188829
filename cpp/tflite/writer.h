#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace ferry::tflite {

// A TF-level op (or a feature of one) the TFLite writer cannot express yet. The message names
// the op and the PyTorch scope it came from.
class TfliteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where constants' bytes go. A flatbuffer cannot exceed 2 GB, so bigger models keep their
// weights after it (the large-model layout: Buffer.offset/size, metadata "buffer_location").
enum class BufferPlacement {
  kAuto,      // inside the flatbuffer unless the constants approach 2 GB
  kInline,    // always inside (fails beyond 2 GB)
  kExternal,  // always after the flatbuffer
};

// How `lstm` nodes are written (docs/tflite.md "Recurrent layers"). `gru` is always unrolled:
// TFLite has no GRU builtin.
// The default is the sequence form: bench/lstm_forms.py measured it faster.
enum class RecurrentForm {
  kUnrolled,  // plain float32 ops per time step and direction
  kSequence,  // one UNIDIRECTIONAL_SEQUENCE_LSTM per direction, where it expresses the layer
};

// What a full integer model's boundary holds (quantize="int8", io_dtype).
enum class IoType { kFloat32, kInt8, kUInt8 };

// Full integer quantization: the ranges a caller observed for the computed float32 tensors of
// the float file written from the same graph with the same options (so the same tensor
// indices), by running it over calibration inputs.
struct Int8Activations {
  size_t tensors = 0;  // how many tensors that file's main subgraph has (checked)
  std::vector<std::pair<int32_t, std::pair<float, float>>> ranges;  // tensor -> (min, max)
  IoType io = IoType::kFloat32;
  // quantize="int16x8": activations INT16, symmetric (zero point 0), run by the builtin
  // kernels; kernels stay INT8 per channel, biases INT64. io int8/uint8 are not offered then.
  bool int16 = false;
  // PyTorch's own scales (an imported quantized model), by the float file's tensor index:
  // computed tensors that take exactly this scale and zero point, and conv / dense kernels
  // stored with exactly these per-channel scales.
  std::vector<std::pair<int32_t, std::pair<float, int32_t>>> fixed;
  std::vector<std::pair<int32_t, std::vector<float>>> kernel_scales;
  // Only the model's own scales: an op whose output the model leaves float stays float.
  bool model_scales_only = false;
};

struct WriteOptions {
  // Float32 weights (constants of rank 2+ and 16+ elements) stored as float16, each followed
  // by a DEQUANTIZE; biases and scalars stay float32.
  bool float16_weights = false;
  // Dynamic-range quantization: conv and dense kernels stored as INT8, symmetric per output
  // channel, run by the builtins' hybrid kernels (float activations); other constants, the
  // depthwise kernels among them (XNNPACK has no hybrid depthwise op), stay float32.
  bool int8_weights = false;
  // Full integer quantization (cpp/tflite/quantize.h); keep_float applies to it as well.
  std::optional<Int8Activations> int8;
  // With int8 weights or activations: kernels of nodes under these module paths (a path names the
  // module and everything inside it) or of these TF-level ops ("conv", "dense") stay float32. An
  // entry that keeps no kernel is reported in WriteResult::warnings.
  std::vector<std::string> keep_float;
  BufferPlacement placement = BufferPlacement::kAuto;
  RecurrentForm recurrent = RecurrentForm::kSequence;
  // The user chose `recurrent` (rather than taking the default): a choice that changes
  // nothing in this graph is then reported in WriteResult::warnings.
  bool recurrent_explicit = false;
};

// Whether a keep_float entry names this node: its module path (the module or one inside it)
// or its TF-level op.
inline bool keeps_float(const std::string& entry, const std::string& scope, const std::string& op) {
  return scope == entry || scope.rfind(entry + ".", 0) == 0 || op == entry;
}

class SerializedModel;

// What the writer produced, plus which TFLite tensor holds each graph value it kept (values
// folded or fused into another op have none): validation reads those tensors back.
struct WriteResult {
  std::shared_ptr<const SerializedModel> model;
  std::vector<std::pair<int64_t, int32_t>> value_tensors;  // (Value::id, tensor index)
  // The same for constants written as weights as they are (not folded into others).
  std::vector<std::pair<int64_t, int32_t>> constant_tensors;
  // What the options asked for and the writer did not do, in the user's terms (a layer that
  // fell back to another form and why, an option with no effect).
  std::vector<std::string> warnings;

  uint64_t size() const;
  bool external_buffers() const;
  std::string bytes() const;
  // Streams the file to `path` (created or truncated; atomic replacement is the caller's).
  void write_file(const std::string& path) const;
};

// Serialises the final TF-level graph (after layout and cleanup: every value in its physical
// shape) as a TFLite model with one subgraph and a "serving_default" signature named after
// graph.input_names / output_names. Batch norms are folded into the convolution or dense
// layer before them where possible, and RELU/RELU6 into the op they follow. The same graph
// and options always give the same bytes. Throws TfliteError for what it cannot express.
WriteResult write_tflite_model(const Graph& graph, const WriteOptions& options = {});

// The whole file in memory.
std::string write_tflite(const Graph& graph, const WriteOptions& options = {});

}  // namespace ferry::tflite
