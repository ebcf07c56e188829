#pragma once

// Zero-copy exchange of constant tensors between NumPy and the core.

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <memory>

#include "ir/tensor_data.h"

namespace ferry::bindings {

namespace nb = nanobind;

using InArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

// Borrows the array's memory; the TensorData keeps the array alive.
std::shared_ptr<const TensorData> borrow(InArray array);
// A read-only NumPy view of the bytes; the view keeps the TensorData alive.
nb::object to_numpy(std::shared_ptr<const TensorData> data, const Shape& shape);

}  // namespace ferry::bindings
