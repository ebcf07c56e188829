// Advanced indexing (aten.index.Tensor) at free sizes: the same flat positions as at fixed
// sizes (indexing.h), with every size that follows a free input dim read at run time. Each
// index is wrapped by its dim's run-time size and scaled by the dim's stride (the product of
// the sizes after it); dims taken whole add a run-time iota. Hugging Face's attention masks read
// positions this way (`position_ids[batch_idx, q_idx]`), with both indices made by arange over
// free sizes.
#include "lower/index_free.h"

#include <algorithm>

#include "lower/indexing.h"

namespace ferry {
namespace {

// The run-time size of x's dim d as an int32 0-d value (a constant when fixed).
Value* size_of(LowerContext& ctx, const Value& x, size_t d) {
  return emit_size_scalar(ctx, x.shape[d], dims_sym(x)[d]);
}

// Indices wrapped as PyTorch does (i + size where negative), in int32.
Value* wrapped(LowerContext& ctx, Value* index, const Value& x, size_t d) {
  if (index->dtype != DType::kInt64 && index->dtype != DType::kInt32)
    throw LowerError("the index must be an integer tensor");
  Value* i = cast_to(ctx, index, DType::kInt32);
  Value* negative = emit_broadcast_op(ctx, "less", i, ctx.scalar(0, DType::kInt32));
  Value* shifted = emit_broadcast_op(ctx, "add", i, size_of(ctx, x, d));
  return emit_where(ctx, negative, shifted, i);
}

// The expression of x's element count, or -1 when it is fixed.
int32_t count_expr(LowerContext& ctx, const Value& x) {
  const SymDims sym = dims_sym(x);
  if (!has_free_dims(sym)) return -1;
  DimExpr product{DimOp::kMul, -1, {}};
  for (size_t d = 0; d < x.rank(); ++d)
    product.args.push_back({sym[d], sym[d] >= 0 ? 0 : x.shape[d]});
  if (product.args.size() == 1) return sym[0];
  return ctx.graph().symbols->add(std::move(product));
}

}  // namespace

bool index_is_free(const Value& x, const std::vector<Value*>& indices) {
  if (has_free_dims(x.sym)) return true;
  return std::any_of(indices.begin(), indices.end(),
                     [](const Value* i) { return has_free_dims(i->sym); });
}

Value* free_advanced_index(LowerContext& ctx, Value* x, const std::vector<Value*>& indices,
                           const std::vector<int64_t>& positions) {
  const Value& out = ctx.torch_output();
  const size_t rank = out.rank();
  Shape b;
  for (Value* i : indices) b = broadcast_shapes(b, i->shape);
  const bool adjacent =
      positions.back() - positions.front() + 1 == static_cast<int64_t>(positions.size());
  const size_t b_at = adjacent ? static_cast<size_t>(positions.front()) : 0;
  // Strides from the last dim: constants until a free size comes in, run-time values after.
  std::vector<Value*> strides(x->rank());
  Value* stride = ctx.scalar(1, DType::kInt32);
  for (size_t d = x->rank(); d-- > 0;) {
    strides[d] = stride;
    stride = emit_broadcast_op(ctx, "mul", stride, size_of(ctx, *x, d));
  }
  Value* flat = nullptr;
  auto accumulate = [&](Value* term) {
    flat = flat ? emit_broadcast_op(ctx, "add", flat, term) : term;
  };
  for (size_t k = 0; k < indices.size(); ++k) {
    const auto p = static_cast<size_t>(positions[k]);
    Value* i = wrapped(ctx, indices[k], *x, p);
    // Placed among the result's dims: B's dims at b_at, right-aligned.
    Shape placed(b_at, 1);
    SymDims placed_sym(b_at, -1);
    for (size_t d = i->rank(); d < b.size(); ++d) {
      placed.push_back(1);
      placed_sym.push_back(-1);
    }
    const SymDims isym = dims_sym(*i);
    placed.insert(placed.end(), i->shape.begin(), i->shape.end());
    placed_sym.insert(placed_sym.end(), isym.begin(), isym.end());
    placed.resize(rank, 1);
    placed_sym.resize(rank, -1);
    if (placed != i->shape) i = emit_sized_reshape(ctx, i, placed, placed_sym);
    accumulate(emit_broadcast_op(ctx, "mul", i, strides[p]));
  }
  size_t q = 0;  // the result's position of the next dim taken whole
  for (size_t d = 0; d < x->rank(); ++d) {
    if (q == b_at) q += b.size();
    if (std::find(positions.begin(), positions.end(), static_cast<int64_t>(d)) != positions.end())
      continue;
    Shape s(rank, 1);
    SymDims ssym(rank, -1);
    s[q] = x->shape[d];
    ssym[q] = dims_sym(*x)[d];
    Value* iota = emit_iota(ctx, x->shape[d], ssym[q]);
    accumulate(emit_broadcast_op(ctx, "mul", emit_sized_reshape(ctx, iota, s, ssym), strides[d]));
    ++q;
  }
  if (flat->shape != out.shape)
    throw LowerError("advanced indexing whose indices do not cover the result at free sizes");
  const int32_t n = count_expr(ctx, *x);
  Value* rows = emit_sized_reshape(ctx, x, {num_elements(x->shape)}, {n});
  Value* y = emit_gather(ctx, rows, flat, 0);
  if (has_free_dims(flat->sym)) y->sym = flat->sym;
  return y;
}

}  // namespace ferry
