#include "lower/indexing.h"

#include <algorithm>
#include <limits>

namespace ferry {

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

void check_int32_positions(const Shape& shape, const std::string& what) {
  if (num_elements(shape) > std::numeric_limits<int32_t>::max()) {
    throw LowerError(what + ": a tensor of " + std::to_string(num_elements(shape)) +
                     " elements has positions beyond int32, the index type of TF's kernels");
  }
}

Value* emit_broadcast_op(LowerContext& ctx, const std::string& op, Value* a, Value* b) {
  const bool compare = op == "equal" || op == "not_equal" || op == "less" || op == "less_equal" ||
                       op == "greater" || op == "greater_equal";
  return ctx.emit(op, {a, b}, {}, compare ? DType::kBool : a->dtype,
                  broadcast_shapes(a->shape, b->shape), broadcast_sym(*a, *b));
}

Value* emit_where(LowerContext& ctx, Value* cond, Value* a, Value* b) {
  const Shape ab = broadcast_shapes(a->shape, b->shape);
  const SymDims ab_sym = broadcast_sym(*a, *b);
  return ctx.emit("where", {cond, a, b}, {}, a->dtype, broadcast_shapes(cond->shape, ab),
                  broadcast_sym(cond->sym, cond->rank(), ab_sym, ab.size()));
}

SymDims dims_sym(const Value& v) { return v.sym.empty() ? SymDims(v.rank(), -1) : v.sym; }

Value* emit_index(LowerContext& ctx, Value* index, int64_t size, const std::string& what) {
  if (index->dtype != DType::kInt64 && index->dtype != DType::kInt32) {
    throw LowerError(what + " must be an integer tensor, got " +
                     std::string(dtype_name(index->dtype)));
  }
  if (index->is_constant()) {
    auto data = std::make_shared<TensorData>(DType::kInt32, index->shape);
    int32_t* out = data->mutable_as<int32_t>();
    for (int64_t i = 0; i < data->size(); ++i) {
      auto v = static_cast<int64_t>(index->constant->scalar_at(i));
      if (v < -size || v >= size) {
        throw LowerError(what + " holds " + std::to_string(v) +
                         ", out of range for a dim of size " + std::to_string(size));
      }
      out[i] = static_cast<int32_t>(v < 0 ? v + size : v);
    }
    return ctx.constant(std::move(data));
  }
  Value* i = cast_to(ctx, index, DType::kInt32);
  Value* negative = emit_broadcast_op(ctx, "less", i, ctx.scalar(0, DType::kInt32));
  Value* wrapped =
      emit_broadcast_op(ctx, "add", i, ctx.scalar(static_cast<double>(size), DType::kInt32));
  return emit_where(ctx, negative, wrapped, i);
}

Value* iota_constant(LowerContext& ctx, const Shape& shape, size_t axis, int64_t scale) {
  auto data = std::make_shared<TensorData>(DType::kInt32, shape);
  int32_t* out = data->mutable_as<int32_t>();
  const std::vector<int64_t> strides = strides_of(shape);
  for (int64_t i = 0; i < data->size(); ++i) {
    out[i] = static_cast<int32_t>((i / strides[axis]) % shape[axis] * scale);
  }
  return ctx.constant(std::move(data));
}

Value* emit_gather(LowerContext& ctx, Value* x, Value* index, int64_t axis) {
  Shape shape(x->shape.begin(), x->shape.begin() + axis);
  shape.insert(shape.end(), index->shape.begin(), index->shape.end());
  shape.insert(shape.end(), x->shape.begin() + axis + 1, x->shape.end());
  Attrs attrs;
  attrs.set("axis", axis);
  return ctx.emit("gather", {x, index}, std::move(attrs), x->dtype, std::move(shape));
}

Value* flatten(LowerContext& ctx, Value* x) {
  if (x->rank() == 1) return x;
  return emit_reshape(ctx, x, {num_elements(x->shape)});
}

Value* emit_scatter_add(LowerContext& ctx, Value* flat, Value* updates, const Shape& shape) {
  const int64_t n = num_elements(flat->shape);
  Value* positions = emit_reshape(ctx, flat, {n, 1});
  Value* values = updates->shape == Shape{n} ? updates : emit_reshape(ctx, updates, {n});
  const int64_t total = num_elements(shape);
  Attrs attrs;
  attrs.set("shape", Shape{total});
  Value* scattered =
      ctx.emit("scatter_nd", {positions, values}, std::move(attrs), updates->dtype, {total});
  return shape == Shape{total} ? scattered : emit_reshape(ctx, scattered, shape);
}

Value* flat_positions(LowerContext& ctx, Value* index, const Shape& x_shape, int64_t dim) {
  check_int32_positions(x_shape, "indexing");
  const std::vector<int64_t> strides = strides_of(x_shape);
  // index * stride(dim) + the other coordinates' share, a constant of index's shape.
  auto data = std::make_shared<TensorData>(DType::kInt32, index->shape);
  int32_t* out = data->mutable_as<int32_t>();
  const std::vector<int64_t> index_strides = strides_of(index->shape);
  for (int64_t i = 0; i < data->size(); ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < index->shape.size(); ++d) {
      if (static_cast<int64_t>(d) == dim) continue;
      offset += (i / index_strides[d]) % index->shape[d] * strides[d];
    }
    out[i] = static_cast<int32_t>(offset);
  }
  Value* scaled =
      strides[dim] == 1
          ? index
          : emit_broadcast_op(ctx, "mul", index,
                              ctx.scalar(static_cast<double>(strides[dim]), DType::kInt32));
  return emit_broadcast_op(ctx, "add", scaled, ctx.constant(std::move(data)));
}

std::vector<int64_t> indices_positions(const LowerContext& ctx, size_t count) {
  if (ctx.attrs().has("indices_positions")) return ctx.attrs().get_ints("indices_positions");
  std::vector<int64_t> positions;
  for (size_t k = 0; k < count; ++k) positions.push_back(static_cast<int64_t>(k));
  return positions;
}

Value* broadcast_to_shape(LowerContext& ctx, Value* x, const Shape& shape) {
  if (x->shape == shape) return x;
  Shape padded(shape.size() - x->rank(), 1);
  padded.insert(padded.end(), x->shape.begin(), x->shape.end());
  if (padded != x->shape) x = emit_reshape(ctx, x, padded);
  if (padded == shape) return x;
  Attrs attrs;
  attrs.set("shape", shape);
  return ctx.emit("broadcast_to", {x}, std::move(attrs), x->dtype, shape);
}

Value* advanced_positions(LowerContext& ctx, const Shape& x_shape,
                          const std::vector<Value*>& indices,
                          const std::vector<int64_t>& positions) {
  check_int32_positions(x_shape, "indexing");
  Shape b;
  for (Value* i : indices) b = broadcast_shapes(b, i->shape);
  const bool adjacent =
      positions.back() - positions.front() + 1 == static_cast<int64_t>(positions.size());
  const size_t b_at = adjacent ? static_cast<size_t>(positions.front()) : 0;
  const size_t rank = x_shape.size() - indices.size() + b.size();
  const std::vector<int64_t> strides = strides_of(x_shape);
  Value* flat = nullptr;
  auto accumulate = [&](Value* term) {
    flat = flat ? emit_broadcast_op(ctx, "add", flat, term) : term;
  };
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t p = positions[k];
    Value* i = emit_index(ctx, indices[k], x_shape[p], "the index");
    Shape placed(b_at, 1);
    for (size_t d = i->rank(); d < b.size(); ++d) placed.push_back(1);
    placed.insert(placed.end(), i->shape.begin(), i->shape.end());
    placed.resize(rank, 1);
    if (placed != i->shape) i = emit_reshape(ctx, i, placed);
    if (strides[p] != 1)
      i = emit_broadcast_op(ctx, "mul", i,
                            ctx.scalar(static_cast<double>(strides[p]), DType::kInt32));
    accumulate(i);
  }
  Shape shape(rank, 1);  // the result's shape: B, and the dims taken whole around it
  for (size_t d = 0; d < b.size(); ++d) shape[b_at + d] = b[d];
  size_t q = 0;  // output position of the next dim taken whole
  for (int64_t d = 0; d < static_cast<int64_t>(x_shape.size()); ++d) {
    if (q == b_at) q += b.size();
    if (std::find(positions.begin(), positions.end(), d) != positions.end()) continue;
    Shape s(rank, 1);
    s[q] = x_shape[d];
    shape[q] = x_shape[d];
    accumulate(iota_constant(ctx, s, q, strides[d]));
    ++q;
  }
  return broadcast_to_shape(ctx, flat, shape);
}

}  // namespace ferry
