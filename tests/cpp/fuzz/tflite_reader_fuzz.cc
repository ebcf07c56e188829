// libFuzzer target for the .tflite reader. Every input must either read into a model whose
// indices and offsets all lie inside it, or be refused with TfliteFormatError. A crash, a read
// out of bounds, undefined behaviour or any other exception is a bug in the reader.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tflite/reader.h"

namespace {

using ferry::tflite::TfliteFormatError;
using ferry::tflite::TfliteModelInfo;

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "read_tflite accepted a model where %s\n", what);
  std::abort();
}

void check_accepted(const TfliteModelInfo& info, size_t size) {
  const auto tensors = static_cast<int64_t>(info.tensors.size());
  auto in_range = [&](const std::vector<int32_t>& indices) {
    for (int32_t i : indices)
      if (i < -1 || i >= tensors) return false;
    return true;
  };
  require(in_range(info.inputs), "a subgraph input is no tensor");
  require(in_range(info.outputs), "a subgraph output is no tensor");
  for (const auto& op : info.ops) {
    require(in_range(op.inputs), "an operator input is no tensor");
    require(in_range(op.outputs), "an operator output is no tensor");
  }
  for (const auto& t : info.tensors) {
    require(t.buffer < info.num_buffers, "a tensor's buffer index is out of range");
    require(t.buffer_size <= size, "a tensor's data is larger than the file");
  }
  for (size_t offset : info.buffer_offsets)
    require(offset <= size, "a buffer starts after the end of the file");
  for (const auto& [name, value] : info.metadata)
    require(value.size() <= size, "a metadata value is larger than the file");
}

}  // namespace

// Ferry reads a model in place, from a Python bytes object or a mapping of the file, so the
// reader gets libFuzzer's buffer as it is: exactly `size` bytes, any read past them caught.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    check_accepted(ferry::tflite::read_tflite(data, size), size);
  } catch (const TfliteFormatError&) {
    // The one way to refuse a file.
  }
  return 0;
}
