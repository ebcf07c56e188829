#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "lower/registry.h"

namespace ferry {

// PyTorch accepts `stride=2` for `stride=(2, 2)`: expand a scalar or 1-list to `rank` entries.
std::vector<int64_t> expand_ints(const Attrs& attrs, const std::string& name, size_t rank,
                                 int64_t fallback);
// Wraps a negative axis; throws LowerError when out of range.
int64_t normalize_axis(int64_t axis, size_t rank);
// NumPy/PyTorch broadcasting of two shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Every op-name spelling a PyTorch function is traced under: torch.X, torch.Tensor.X,
// torch.nn.functional.X, with optional in-place `_` variants and aten overloads.
std::vector<std::string> function_aliases(const std::string& name, bool functional, bool tensor_method,
                                          bool torch_namespace);

// Registers one elementwise unary op under all its names: PyTorch `name` -> TF-level `tf_op`.
void add_unary(Registry& registry, const std::string& name, const std::string& tf_op,
               std::vector<std::string> extra_ops = {});

}  // namespace ferry
