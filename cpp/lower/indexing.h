#pragma once

// Shared pieces of the gather, scatter and sort rules: index tensors made ready for TF's
// kernels, flat positions and small constants. Shapes are static here; the arithmetic stays
// in these helpers so that symbolic dims remain a local change.
#include <string>
#include <vector>

#include "lower/helpers.h"

namespace ferry {

// Row-major strides of `shape` (in elements).
std::vector<int64_t> strides_of(const Shape& shape);

// PyTorch's int64 (or int32) indices into a dim of static `size`, wrapped as PyTorch does
// (negative values count from the end: i + (i < 0) * size) and narrowed to int32, the index
// type of TFLite's GATHER and SCATTER_ND. The narrowing is exact: every valid index lies in
// (-size, size) and size is a static dim. Constant indices are wrapped at conversion time.
Value* emit_index(LowerContext& ctx, Value* index, int64_t size, const std::string& what);

// An int32 constant of `shape` holding `scale` times each element's coordinate along `axis`.
Value* iota_constant(LowerContext& ctx, const Shape& shape, size_t axis, int64_t scale);

// A binary elementwise op over broadcast shapes; comparisons give bool, others a's dtype. The
// result is free where an operand is.
Value* emit_broadcast_op(LowerContext& ctx, const std::string& op, Value* a, Value* b);
Value* emit_where(LowerContext& ctx, Value* cond, Value* a, Value* b);

// v's free sizes with one entry per dim (-1 where fixed), also when all are fixed.
SymDims dims_sym(const Value& v);

// `gather` of x along `axis` at int32 `index` (docs/tf_ops.md).
Value* emit_gather(LowerContext& ctx, Value* x, Value* index, int64_t axis);

// x with its dims merged into one (a reshape; x itself when already 1-D).
Value* flatten(LowerContext& ctx, Value* x);

// `scatter_nd` into zeros of `shape` at flat positions `flat` (int32, any shape), adding the
// `updates` (the shape of `flat`) that meet at one position.
Value* emit_scatter_add(LowerContext& ctx, Value* flat, Value* updates, const Shape& shape);

// Flat positions into x (of `x_shape`) for `index` (int32, already wrapped) along `dim`: the
// positions x.gather(dim, index) reads and x.scatter(dim, index, src) writes.
Value* flat_positions(LowerContext& ctx, Value* index, const Shape& x_shape, int64_t dim);

// Flat positions into x for advanced indexing: integer `indices` (PyTorch's, unwrapped) at
// dims `positions`, every other dim taken whole. The index tensors broadcast to one shape B;
// when they stand at adjacent dims B replaces those dims, otherwise B comes first (NumPy's
// rule). The result has the shape of x[indices].
Value* advanced_positions(LowerContext& ctx, const Shape& x_shape,
                          const std::vector<Value*>& indices,
                          const std::vector<int64_t>& positions);

// The dims aten.index / index_put's `indices` stand at: the bridge lists them in
// `indices_positions` when some entries are None (dims taken whole).
std::vector<int64_t> indices_positions(const LowerContext& ctx, size_t count);

// x broadcast to `shape` (leading unit dims added by a reshape, then broadcast_to).
Value* broadcast_to_shape(LowerContext& ctx, Value* x, const Shape& shape);

// Refuses a tensor whose element count does not fit an int32 flat position.
void check_int32_positions(const Shape& shape, const std::string& what);

}  // namespace ferry
