#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ir/dtype.h"

namespace ferry {

using Shape = std::vector<int64_t>;

int64_t num_elements(const Shape& shape);

// Constant tensor bytes, row-major and contiguous. The bytes may belong to someone else (a
// NumPy array or a torch parameter handed over from Python): `owner` keeps them alive, so
// weights are shared, never copied, until a rule actually has to rearrange them.
class TensorData : public std::enable_shared_from_this<TensorData> {
 public:
  TensorData(DType dtype, Shape shape, const std::byte* data, std::shared_ptr<const void> owner);
  // Owns a fresh zero-filled buffer.
  TensorData(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return num_elements(shape_); }
  size_t nbytes() const { return static_cast<size_t>(size()) * dtype_size(dtype_); }
  const std::byte* bytes() const { return data_; }
  // Only for buffers this object owns (created by the two-argument constructor).
  std::byte* mutable_bytes();

  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_);
  }
  template <class T>
  T* mutable_as() {
    return reinterpret_cast<T*>(mutable_bytes());
  }

  // Elementwise reads as double, for folding and for small scalars in rules.
  double scalar_at(int64_t index) const;

  // physical = logical.permute(perm), as a new owned tensor.
  std::shared_ptr<TensorData> permuted(const std::vector<int64_t>& perm) const;
  // Same bytes, another shape of equal element count (this object must be shared-owned).
  std::shared_ptr<TensorData> reshaped(Shape shape) const;

 private:
  DType dtype_;
  Shape shape_;
  const std::byte* data_;
  std::shared_ptr<const void> owner_;
  std::vector<std::byte> storage_;
};

std::shared_ptr<TensorData> scalar_tensor(DType dtype, double value);

}  // namespace ferry
