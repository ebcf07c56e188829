#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ferry::tflite {

// The bytes are not a well-formed TFLite flatbuffer (truncated, corrupted, wrong file).
class TfliteFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TfliteOp {
  std::string name;  // builtin operator name, e.g. "CONV_2D" ("BUILTIN_<code>" if unknown)
  int32_t code = 0;
  int32_t version = 1;
  std::string fused_activation;  // "NONE", "RELU", "RELU6", ... ("" when the op has none)
  std::vector<int32_t> inputs, outputs;
};

struct TfliteTensor {
  std::string name;
  std::vector<int32_t> shape;
  std::string dtype;
  uint32_t buffer = 0;
  size_t buffer_size = 0;  // bytes of data in its buffer (0 for computed tensors)
};

// What tests and tools need to know about a .tflite file's first subgraph.
struct TfliteModelInfo {
  uint32_t version = 0;
  std::vector<TfliteOp> ops;
  std::vector<TfliteTensor> tensors;
  std::vector<int32_t> inputs, outputs;
  size_t num_buffers = 0;
  std::vector<size_t> buffer_offsets;  // file offset of each non-empty buffer's data
  bool external_buffers = false;       // the large-model layout: data after the flatbuffer
  std::vector<std::string> signature_keys;
  // name -> tensor index, of the first signature
  std::vector<std::pair<std::string, uint32_t>> signature_inputs, signature_outputs;
  std::vector<std::pair<std::string, std::string>> metadata;  // name -> buffer bytes
};

// Verifies the buffer first; throws TfliteFormatError ("not a valid TFLite flatbuffer: ...")
// instead of reading anything malformed.
TfliteModelInfo read_tflite(const void* data, size_t size);

}  // namespace ferry::tflite
