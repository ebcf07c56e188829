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

TensorData::TensorData(std::shared_ptr<const TensorData> source, std::vector<int64_t> perm)
    : dtype_(source->dtype()), data_(nullptr), source_(std::move(source)), perm_(std::move(perm)) {
  for (int64_t axis : perm_) shape_.push_back(source_->shape()[axis]);
}

std::vector<int64_t> TensorData::compose(const std::vector<int64_t>& perm) const {
  // (source.permute(p1)).permute(p2) == source.permute(p1[p2[i]]): one pass over the source.
  std::vector<int64_t> composed(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) composed[i] = perm_[perm[i]];
  return composed;
}

void TensorData::materialize() const {
  std::call_once(materialized_, [this] {
    storage_.resize(nbytes());
    source_->permute_into(perm_, storage_.data());
    data_ = storage_.data();
  });
}

std::byte* TensorData::mutable_bytes() {
  if (source_) {
    // Written bytes no longer follow from the source: this becomes an ordinary owned tensor.
    materialize();
    source_.reset();
    perm_.clear();
  }
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

namespace {

// out[i0..ik] = in[...] with in-strides reordered by perm: an odometer over every output axis
// but the last, and a tight strided loop over the last (kernels are tens of millions of
// elements, so the inner loop matters).
template <class T>
void permute_elements(const T* in, T* out, const Shape& out_shape,
                      const std::vector<int64_t>& src_strides) {
  const size_t rank = out_shape.size();
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const int64_t inner = out_shape[rank - 1];
  const int64_t inner_stride = src_strides[rank - 1];
  int64_t outer = 1;
  for (size_t a = 0; a + 1 < rank; ++a) outer *= out_shape[a];
  std::vector<int64_t> index(rank, 0);
  int64_t base = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = in + base;
    for (int64_t i = 0; i < inner; ++i) out[i] = src[i * inner_stride];
    out += inner;
    for (size_t axis = rank - 1; axis-- > 0;) {
      if (++index[axis] < out_shape[axis]) {
        base += src_strides[axis];
        break;
      }
      base -= src_strides[axis] * (out_shape[axis] - 1);
      index[axis] = 0;
    }
  }
}

}  // namespace

void TensorData::permute_into(const std::vector<int64_t>& perm, std::byte* out) const {
  const size_t rank = shape_.size();
  if (perm.size() != rank) throw std::invalid_argument("permute_into: rank mismatch");
  if (source_) {
    source_->permute_into(compose(perm), out);
    return;
  }
  if (size() == 0) return;
  bool identity = true;
  for (size_t i = 0; i < rank; ++i) identity &= perm[i] == static_cast<int64_t>(i);
  if (identity) {
    std::memcpy(out, data_, nbytes());
    return;
  }
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) out_shape[i] = shape_[perm[i]];
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * shape_[i];
  std::vector<int64_t> src_strides(rank);
  for (size_t i = 0; i < rank; ++i) src_strides[i] = in_strides[perm[i]];
  switch (dtype_size(dtype_)) {
    case 1:
      permute_elements(reinterpret_cast<const uint8_t*>(data_), reinterpret_cast<uint8_t*>(out),
                       out_shape, src_strides);
      break;
    case 2:
      permute_elements(reinterpret_cast<const uint16_t*>(data_), reinterpret_cast<uint16_t*>(out),
                       out_shape, src_strides);
      break;
    case 4:
      permute_elements(reinterpret_cast<const uint32_t*>(data_), reinterpret_cast<uint32_t*>(out),
                       out_shape, src_strides);
      break;
    case 8:
      permute_elements(reinterpret_cast<const uint64_t*>(data_), reinterpret_cast<uint64_t*>(out),
                       out_shape, src_strides);
      break;
    default:
      throw std::invalid_argument("permute_into: unsupported element size");
  }
}

std::shared_ptr<TensorData> TensorData::permuted(const std::vector<int64_t>& perm) const {
  const size_t rank = shape_.size();
  if (perm.size() != rank) throw std::invalid_argument("permuted: rank mismatch");
  std::vector<bool> seen(rank, false);
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= static_cast<int64_t>(rank) || seen[axis])
      throw std::invalid_argument("permuted: not a permutation");
    seen[axis] = true;
  }
  if (source_) {
    return std::shared_ptr<TensorData>(new TensorData(source_, compose(perm)));
  }
  std::shared_ptr<const TensorData> self = weak_from_this().lock();
  if (!self) {
    // Not shared-owned (a temporary on the stack): nothing to point at, permute now.
    Shape out_shape(rank);
    for (size_t i = 0; i < rank; ++i) out_shape[i] = shape_[perm[i]];
    auto out = std::make_shared<TensorData>(dtype_, out_shape);
    permute_into(perm, out->mutable_bytes());
    return out;
  }
  return std::shared_ptr<TensorData>(new TensorData(std::move(self), perm));
}

std::shared_ptr<TensorData> TensorData::reshaped(Shape shape) const {
  if (num_elements(shape) != size()) throw std::invalid_argument("reshaped: size mismatch");
  // Shares the bytes: the new object keeps this one alive instead of copying.
  return std::make_shared<TensorData>(dtype_, std::move(shape), bytes(), shared_from_this());
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
