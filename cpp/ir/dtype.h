#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

// Element types Ferry carries through the graph. Names follow NumPy/TensorFlow spelling.
enum class DType : uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt64,
  kInt32,
  kInt16,
  kInt8,
  kUInt8,
  kBool,
};

std::string_view dtype_name(DType dtype);
// Throws std::invalid_argument naming the unknown type.
DType dtype_from_name(std::string_view name);
size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

}  // namespace ferry
