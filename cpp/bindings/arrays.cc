#include "bindings/arrays.h"

#include <stdexcept>
#include <string>

namespace ferry::bindings {
namespace {

DType from_dlpack(nb::dlpack::dtype t) {
  using C = nb::dlpack::dtype_code;
  const auto code = static_cast<C>(t.code);
  if (code == C::Float && t.bits == 32) return DType::kFloat32;
  if (code == C::Float && t.bits == 64) return DType::kFloat64;
  if (code == C::Float && t.bits == 16) return DType::kFloat16;
  if (code == C::Bfloat && t.bits == 16) return DType::kBFloat16;
  if (code == C::Int && t.bits == 64) return DType::kInt64;
  if (code == C::Int && t.bits == 32) return DType::kInt32;
  if (code == C::Int && t.bits == 16) return DType::kInt16;
  if (code == C::Int && t.bits == 8) return DType::kInt8;
  if (code == C::UInt && t.bits == 8) return DType::kUInt8;
  if (code == C::Bool) return DType::kBool;
  throw std::invalid_argument("unsupported array element type (code " + std::to_string(t.code) +
                              ", " + std::to_string(t.bits) + " bits)");
}

nb::dlpack::dtype to_dlpack(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return nb::dtype<float>();
    case DType::kFloat64:
      return nb::dtype<double>();
    case DType::kInt64:
      return nb::dtype<int64_t>();
    case DType::kInt32:
      return nb::dtype<int32_t>();
    case DType::kInt16:
      return nb::dtype<int16_t>();
    case DType::kInt8:
      return nb::dtype<int8_t>();
    case DType::kUInt8:
      return nb::dtype<uint8_t>();
    case DType::kBool:
      return nb::dtype<bool>();
    case DType::kFloat16:
      return {static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
    case DType::kBFloat16:
      break;
  }
  throw std::invalid_argument("bfloat16 constants cannot be handed to NumPy");
}

}  // namespace

std::shared_ptr<const TensorData> borrow(InArray array) {
  Shape shape(array.ndim());
  for (size_t i = 0; i < array.ndim(); ++i) shape[i] = static_cast<int64_t>(array.shape(i));
  DType dtype = from_dlpack(array.dtype());
  const auto* bytes = static_cast<const std::byte*>(array.data());
  // The deleter may run wherever the last graph referencing the weight dies; dropping the
  // array's reference needs the GIL.
  auto* held = new InArray(std::move(array));
  std::shared_ptr<const void> owner(held, [](const InArray* a) {
    nb::gil_scoped_acquire gil;
    delete a;
  });
  return std::make_shared<TensorData>(dtype, std::move(shape), bytes, std::move(owner));
}

nb::object to_numpy(std::shared_ptr<const TensorData> data, const Shape& shape) {
  std::vector<size_t> dims(shape.begin(), shape.end());
  auto* keep = new std::shared_ptr<const TensorData>(data);
  nb::capsule owner(
      keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<const TensorData>*>(p); });
  nb::ndarray<nb::numpy, nb::ro> array(data->bytes(), dims.size(), dims.data(), owner, nullptr,
                                       to_dlpack(data->dtype()));
  return nb::cast(array);
}

}  // namespace ferry::bindings
