#include "ir/tensor_data.h"

#include <cstring>
#include <stdexcept>

namespace ferry {

int64_t num_elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorData::TensorData(DType dtype, Shape shape, const std::byte* data,
                       std::shared_ptr<const void> owner)
    : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

TensorData::TensorData(DType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)), data_(nullptr) {
  storage_.resize(nbytes());
  data_ = storage_.data();
}

std::byte* TensorData::mutable_bytes() {
  if (storage_.empty() && nbytes() > 0) {
    throw std::logic_error("TensorData: cannot write into borrowed bytes");
  }
  return storage_.data();
}

double TensorData::scalar_at(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32:
      return as<float>()[i];
    case DType::kFloat64:
      return as<double>()[i];
    case DType::kInt64:
      return static_cast<double>(as<int64_t>()[i]);
    case DType::kInt32:
      return as<int32_t>()[i];
    case DType::kInt16:
      return as<int16_t>()[i];
    case DType::kInt8:
      return as<int8_t>()[i];
    case DType::kUInt8:
      return as<uint8_t>()[i];
    case DType::kBool:
      return as<uint8_t>()[i] != 0;
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
  }
  throw std::invalid_argument("scalar_at: unsupported dtype " + std::string(dtype_name(dtype_)));
}

std::shared_ptr<TensorData> TensorData::permuted(const std::vector<int64_t>& perm) const {
  const size_t rank = shape_.size();
  if (perm.size() != rank) throw std::invalid_argument("permuted: rank mismatch");
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) out_shape[i] = shape_[perm[i]];
  auto out = std::make_shared<TensorData>(dtype_, out_shape);
  const size_t elem = dtype_size(dtype_);
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * shape_[i];
  // Walk the output in order with an odometer over its index; each step adds the stride of
  // the input axis that output axis comes from.
  std::vector<int64_t> index(rank, 0);
  const int64_t total = size();
  int64_t src = 0;
  std::byte* dst = out->mutable_bytes();
  for (int64_t n = 0; n < total; ++n) {
    std::memcpy(dst + n * elem, data_ + src * elem, elem);
    for (size_t axis = rank; axis-- > 0;) {
      if (++index[axis] < out_shape[axis]) {
        src += in_strides[perm[axis]];
        break;
      }
      src -= in_strides[perm[axis]] * (out_shape[axis] - 1);
      index[axis] = 0;
    }
  }
  return out;
}

std::shared_ptr<TensorData> TensorData::reshaped(Shape shape) const {
  if (num_elements(shape) != size()) throw std::invalid_argument("reshaped: size mismatch");
  // Shares the bytes: the new object keeps this one alive instead of copying.
  return std::make_shared<TensorData>(dtype_, std::move(shape), data_, shared_from_this());
}

std::shared_ptr<TensorData> scalar_tensor(DType dtype, double value) {
  auto t = std::make_shared<TensorData>(dtype, Shape{});
  switch (dtype) {
    case DType::kFloat32:
      *t->mutable_as<float>() = static_cast<float>(value);
      break;
    case DType::kFloat64:
      *t->mutable_as<double>() = value;
      break;
    case DType::kInt64:
      *t->mutable_as<int64_t>() = static_cast<int64_t>(value);
      break;
    case DType::kInt32:
      *t->mutable_as<int32_t>() = static_cast<int32_t>(value);
      break;
    case DType::kInt16:
      *t->mutable_as<int16_t>() = static_cast<int16_t>(value);
      break;
    case DType::kInt8:
      *t->mutable_as<int8_t>() = static_cast<int8_t>(value);
      break;
    case DType::kUInt8:
      *t->mutable_as<uint8_t>() = static_cast<uint8_t>(value);
      break;
    case DType::kBool:
      *t->mutable_as<uint8_t>() = value != 0;
      break;
    default:
      throw std::invalid_argument("scalar_tensor: unsupported dtype");
  }
  return t;
}

}  // namespace ferry
