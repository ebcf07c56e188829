#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ir/dtype.h"

namespace ferry {

using Shape = std::vector<int64_t>;

int64_t num_elements(const Shape& shape);

// Constant tensor bytes, row-major and contiguous. The bytes may belong to someone else (a
// NumPy array or a torch parameter handed over from Python): `owner` keeps them alive, so
// weights are shared, never copied, until a rule actually has to rearrange them.
//
// A permutation is lazy: `permuted()` records the source and the order, and the bytes are
// computed on first access. A back end that wants yet another order (TFLite's OHWI filters,
// [out, in] dense weights) reads the source directly instead, so a 2 GB weight is never held
// twice just to be transposed back.
class TensorData : public std::enable_shared_from_this<TensorData> {
 public:
  TensorData(DType dtype, Shape shape, const std::byte* data, std::shared_ptr<const void> owner);
  // Owns a fresh zero-filled buffer.
  TensorData(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t size() const { return num_elements(shape_); }
  size_t nbytes() const { return static_cast<size_t>(size()) * dtype_size(dtype_); }
  const std::byte* bytes() const {
    if (source_) materialize();
    return data_;
  }
  // Only for buffers this object owns (created by the two-argument constructor).
  std::byte* mutable_bytes();

  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes());
  }
  template <class T>
  T* mutable_as() {
    return reinterpret_cast<T*>(mutable_bytes());
  }

  // Elementwise reads as double, for folding and for small scalars in rules.
  double scalar_at(int64_t index) const;

  // physical = logical.permute(perm), computed when first read.
  std::shared_ptr<TensorData> permuted(const std::vector<int64_t>& perm) const;
  // Writes this tensor permuted by `perm` (out axis i = this axis perm[i]) into `out`, which
  // holds nbytes(). A lazy tensor is read from its source without being materialised.
  void permute_into(const std::vector<int64_t>& perm, std::byte* out) const;
  // For a lazy permutation: the tensor it is computed from and the order (else nullptr).
  const TensorData* permute_source() const { return source_.get(); }
  const std::vector<int64_t>& permute_order() const { return perm_; }
  // For a lazy permutation: the order of the source that gives this tensor permuted by `perm`.
  std::vector<int64_t> compose(const std::vector<int64_t>& perm) const;
  // Same bytes, another shape of equal element count (this object must be shared-owned).
  std::shared_ptr<TensorData> reshaped(Shape shape) const;

 private:
  // The lazy form: no bytes until materialize().
  TensorData(std::shared_ptr<const TensorData> source, std::vector<int64_t> perm);
  void materialize() const;

  DType dtype_;
  Shape shape_;
  mutable const std::byte* data_;
  std::shared_ptr<const void> owner_;
  mutable std::vector<std::byte> storage_;
  std::shared_ptr<const TensorData> source_;
  std::vector<int64_t> perm_;
  mutable std::once_flag materialized_;
};

std::shared_ptr<TensorData> scalar_tensor(DType dtype, double value);

}  // namespace ferry
