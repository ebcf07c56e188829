// Reading by index: gather, index_select, take_along_dim, advanced indexing (aten.index), one_hot,
// diagonal, cdist; and the data-dependent reads (a boolean mask, nonzero) refused by name.
// Indices are wrapped and narrowed to int32 by emit_index (indexing.h).
#include <algorithm>
#include <cmath>

#include "lower/index_free.h"
#include "lower/indexing.h"
#include "lower/rules.h"

namespace ferry {
namespace {

int64_t dim_of(const LowerContext& ctx, const Value& x, const std::string& name = "dim") {
  return normalize_axis(ctx.attrs().get_int(name), x.rank());
}

// torch.gather(input, dim, index): out[i][j][k] = input[i][index[i][j][k]][k] (dim 1). Each
// output reads one flat position of the input: index * stride(dim) + the other coordinates.
void lower_gather(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t dim = dim_of(ctx, *x);
  Value* index = ctx.in("index");
  if (index->rank() != x->rank() && !(x->rank() == 0 && index->rank() <= 1)) {
    throw LowerError("gather: index has " + std::to_string(index->rank()) + " dims, input has " +
                     std::to_string(x->rank()));
  }
  if (x->rank() >= 1 && index_is_free(*x, {index})) {
    // Free sizes: x[iota_0, ..., index, ..., iota_r] as advanced indexing, each iota the
    // run-time positions along one of index's dims.
    std::vector<Value*> indices;
    std::vector<int64_t> positions;
    const SymDims isym = dims_sym(*index);
    for (size_t d = 0; d < index->rank(); ++d) {
      positions.push_back(static_cast<int64_t>(d));
      if (static_cast<int64_t>(d) == dim) {
        indices.push_back(index);
        continue;
      }
      Shape placed(index->rank(), 1);
      SymDims placed_sym(index->rank(), -1);
      placed[d] = index->shape[d];
      placed_sym[d] = isym[d];
      indices.push_back(
          emit_sized_reshape(ctx, emit_iota(ctx, index->shape[d], isym[d]), placed, placed_sym));
    }
    ctx.set_output(0, free_advanced_index(ctx, x, indices, positions));
    return;
  }
  Value* i = emit_index(ctx, index, x->rank() ? x->shape[dim] : 1, "gather's index");
  if (x->rank() <= 1) {
    set_output_reshaped(ctx, emit_gather(ctx, flatten(ctx, x), flatten(ctx, i), 0));
    return;
  }
  Value* flat = flat_positions(ctx, i, x->shape, dim);
  ctx.set_output(0, emit_gather(ctx, flatten(ctx, x), flat, 0));
}

// index_select(input, dim, index): whole slices of `dim` at a 1-D index.
void lower_index_select(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t dim = dim_of(ctx, *x);
  Value* index = ctx.in("index");
  if (index->rank() > 1) throw LowerError("index_select: index must be 0-d or 1-d");
  Value* i = emit_index(ctx, index, x->rank() ? x->shape[dim] : 1, "index_select's index");
  if (i->rank() == 0) i = emit_reshape(ctx, i, {1});
  if (x->rank() == 0) x = emit_reshape(ctx, x, {1});
  set_output_reshaped(ctx, emit_gather(ctx, x, i, dim));
}

// take_along_dim(input, indices, dim): gather with input and indices broadcast against each
// other outside `dim`; without a dim, both are flattened.
void lower_take_along_dim(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  Value* index = ctx.in("indices");
  const Value& out = ctx.torch_output();
  if (ctx.attrs().is_none("dim")) {
    Value* i =
        emit_index(ctx, flatten(ctx, index), num_elements(x->shape), "take_along_dim's index");
    ctx.emit_output("gather", {flatten(ctx, x), i}, [] {
      Attrs a;
      a.set("axis", int64_t{0});
      return a;
    }());
    return;
  }
  const int64_t dim = dim_of(ctx, *x);
  Shape x_shape = out.shape;
  x_shape[dim] = x->shape[dim];
  x = broadcast_to_shape(ctx, x, x_shape);
  Value* i = emit_index(ctx, broadcast_to_shape(ctx, index, out.shape), x->shape[dim],
                        "take_along_dim's index");
  ctx.set_output(0, emit_gather(ctx, flatten(ctx, x), flat_positions(ctx, i, x->shape, dim), 0));
}

// aten.index.Tensor(self, indices): advanced indexing with integer tensors at some dims (the
// others, None in `indices`, are taken whole). The index tensors broadcast to one shape B; when
// they stand at adjacent dims B replaces those dims, otherwise B comes first (NumPy's rule).
void lower_index(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  std::vector<Value*> indices = ctx.ins("indices");
  const std::vector<int64_t> positions = indices_positions(ctx, indices.size());
  for (Value* i : indices) {
    if (i->dtype == DType::kBool || i->dtype == DType::kUInt8) {
      throw LowerError(
          "reading through a boolean mask (x[mask]) gives one element per True entry: a "
          "data-dependent shape, which a converted graph cannot have; keep the shape with "
          "torch.where(mask, x, fill) (or x * mask) instead");
    }
  }
  if (index_is_free(*x, indices)) {
    ctx.set_output(0, free_advanced_index(ctx, x, indices, positions));
    return;
  }
  if (indices.size() == 1) {
    const int64_t p = positions[0];
    Value* i = emit_index(ctx, indices[0], x->shape[p], "the index");
    ctx.set_output(0, emit_gather(ctx, x, i, p));
    return;
  }
  Value* flat = advanced_positions(ctx, x->shape, indices, positions);
  ctx.set_output(0, emit_gather(ctx, flatten(ctx, x), flat, 0));
}

void refuse_data_dependent(const std::string& what) {
  throw LowerError(what +
                   " returns as many elements as the input has non-zero (True) entries: a "
                   "data-dependent shape, which a converted graph cannot have; keep the shape "
                   "with torch.where(mask, x, fill) instead");
}

// one_hot(tensor, num_classes): equal(index[..., None], arange(C)), as int64.
void lower_one_hot(LowerContext& ctx) {
  Value* index = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t classes = a.is_none("num_classes") ? -1 : a.get_int("num_classes");
  if (classes < 0) {
    throw LowerError(
        "one_hot without num_classes takes the class count from the data (max + 1); pass "
        "num_classes so the converted graph has a static shape");
  }
  Shape expanded = index->shape;
  expanded.push_back(1);
  auto classes_data = std::make_shared<TensorData>(index->dtype, Shape{classes});
  for (int64_t c = 0; c < classes; ++c) {
    if (index->dtype == DType::kInt64)
      classes_data->mutable_as<int64_t>()[c] = c;
    else
      classes_data->mutable_as<int32_t>()[c] = static_cast<int32_t>(c);
  }
  Value* hot = emit_broadcast_op(ctx, "equal", emit_reshape(ctx, index, expanded),
                                 ctx.constant(std::move(classes_data)));
  ctx.emit_output("cast", {hot}, [&] {
    Attrs c;
    c.set("dtype", std::string(dtype_name(ctx.torch_output().dtype)));
    return c;
  }());
}

// diagonal(input, offset, dim1, dim2): the two dims moved last and merged, then one strided
// slice (step n2 + 1) picks the diagonal: static positions, so no gather.
void lower_diagonal(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t offset = a.has("offset") && !a.is_none("offset") ? a.get_int("offset") : 0;
  const int64_t d1 = normalize_axis(a.has("dim1") ? a.get_int("dim1") : 0, x->rank());
  const int64_t d2 = normalize_axis(a.has("dim2") ? a.get_int("dim2") : 1, x->rank());
  if (d1 == d2) throw LowerError("diagonal: dim1 and dim2 must differ");
  const Value& out = ctx.torch_output();
  const int64_t length = out.shape.back();
  if (length == 0) throw LowerError("diagonal: the offset leaves an empty diagonal");
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < static_cast<int64_t>(x->rank()); ++d)
    if (d != d1 && d != d2) perm.push_back(d);
  perm.push_back(d1);
  perm.push_back(d2);
  Shape moved;
  for (int64_t p : perm) moved.push_back(x->shape[p]);
  Value* y = x;
  bool identity = true;
  for (size_t k = 0; k < perm.size(); ++k)
    identity = identity && perm[k] == static_cast<int64_t>(k);
  if (!identity) {
    Attrs t;
    t.set("perm", perm);
    y = ctx.emit("transpose", {x}, std::move(t), x->dtype, moved);
  }
  const int64_t n2 = x->shape[d2];
  Shape merged(moved.begin(), moved.end() - 2);
  merged.push_back(x->shape[d1] * n2);
  y = emit_reshape(ctx, y, merged);
  const int64_t start = offset >= 0 ? offset : -offset * n2;
  std::vector<int64_t> begin(merged.size(), 0), end = merged, step(merged.size(), 1);
  begin.back() = start;
  end.back() = start + (length - 1) * (n2 + 1) + 1;
  step.back() = n2 + 1;
  Attrs s;
  s.set("begin", begin);
  s.set("end", end);
  s.set("strides", step);
  ctx.emit_output("slice", {y}, std::move(s));
}

// Distances between the rows of x1 [.., P, M] and x2 [.., R, M] as PyTorch's cdist and pdist
// define them, from the broadcast differences [.., P, R, M] (exact, where PyTorch's p=2 may use
// a matmul form).
Value* distances(LowerContext& ctx, Value* x1, Value* x2, double p) {
  if (!is_floating(x1->dtype)) throw LowerError("cdist / pdist take floating point tensors");
  Shape s1 = x1->shape, s2 = x2->shape;
  s1.insert(s1.end() - 1, 1);
  s2.insert(s2.end() - 2, 1);
  Value* diff = emit_broadcast_op(ctx, "sub", emit_reshape(ctx, x1, s1), emit_reshape(ctx, x2, s2));
  Value* mag = ctx.emit("abs", {diff}, {}, diff->dtype, diff->shape);
  const int64_t last = static_cast<int64_t>(diff->rank()) - 1;
  Shape reduced(diff->shape.begin(), diff->shape.end() - 1);
  auto reduce = [&](const std::string& op, Value* v) {
    Attrs r;
    r.set("axes", std::vector<int64_t>{last});
    r.set("keepdims", false);
    return ctx.emit(op, {v}, std::move(r), v->dtype, reduced);
  };
  if (p == 0) {
    Value* nz = emit_broadcast_op(ctx, "not_equal", diff, typed_scalar(ctx, 0, diff->dtype));
    return reduce("sum", cast_to(ctx, nz, diff->dtype));
  }
  if (p == 1) return reduce("sum", mag);
  if (p == 2) {
    Value* s = reduce("sum", emit_broadcast_op(ctx, "mul", diff, diff));
    return ctx.emit("sqrt", {s}, {}, s->dtype, s->shape);
  }
  if (std::isinf(p) && p > 0) return reduce("max", mag);
  if (p > 0) {
    Value* powered = emit_broadcast_op(ctx, "pow", mag, typed_scalar(ctx, p, diff->dtype));
    return emit_broadcast_op(ctx, "pow", reduce("sum", powered),
                             typed_scalar(ctx, 1.0 / p, diff->dtype));
  }
  throw LowerError("p must be non-negative, got " + std::to_string(p));
}

double p_arg(const LowerContext& ctx) {
  return ctx.attrs().has("p") && !ctx.attrs().is_none("p") ? ctx.attrs().get_float("p") : 2.0;
}

void lower_cdist(LowerContext& ctx) {
  set_output_reshaped(ctx, distances(ctx, ctx.in("x1"), ctx.in("x2"), p_arg(ctx)));
}

// pdist(x [N, M], p): the distances of every pair i < j, row by row: the upper triangle of
// the [N, N] distances, read at constant positions.
void lower_pdist(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  if (x->rank() != 2) throw LowerError("pdist takes a 2-D input");
  const int64_t n = x->shape[0];
  Value* all = flatten(ctx, distances(ctx, x, x, p_arg(ctx)));
  const int64_t pairs = n * (n - 1) / 2;
  if (pairs == 0) throw LowerError("pdist of fewer than two rows is empty");
  auto data = std::make_shared<TensorData>(DType::kInt32, Shape{pairs});
  int32_t* out = data->mutable_as<int32_t>();
  for (int64_t i = 0, k = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) out[k++] = static_cast<int32_t>(i * n + j);
  ctx.set_output(0, emit_gather(ctx, all, ctx.constant(std::move(data)), 0));
}

// take(input, index): the flattened input at index (wrapped), in index's shape.
void lower_take(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  check_int32_positions(x->shape, "take");
  Value* i = emit_index(ctx, ctx.in("index"), num_elements(x->shape), "take's index");
  set_output_reshaped(
      ctx, emit_gather(ctx, flatten(ctx, x->rank() ? x : emit_reshape(ctx, x, {1})), i, 0));
}

}  // namespace

void register_gather_rules(Registry& registry) {
  registry.add({{"torch.gather", "torch.Tensor.gather", "aten.gather.default"},
                lower_gather,
                "gather (flat positions: mul + add)",
                true});
  registry.add({{"torch.index_select", "torch.Tensor.index_select", "aten.index_select.default"},
                lower_index_select,
                "gather"});
  registry.add(
      {{"torch.take_along_dim", "torch.Tensor.take_along_dim", "aten.take_along_dim.default"},
       lower_take_along_dim,
       "gather (flat positions)"});
  registry.add({{"aten.index.Tensor", "aten._unsafe_index.Tensor"},
                lower_index,
                "gather (several indices: flat positions)",
                true});
  registry.add({{"torch.nonzero", "torch.Tensor.nonzero", "aten.nonzero.default", "torch.argwhere",
                 "torch.Tensor.argwhere", "aten.argwhere.default"},
                [](LowerContext&) { refuse_data_dependent("nonzero / argwhere"); },
                "refused: data-dependent shape"});
  registry.add({{"torch.masked_select", "torch.Tensor.masked_select", "aten.masked_select.default"},
                [](LowerContext&) { refuse_data_dependent("masked_select"); },
                "refused: data-dependent shape"});
  registry.add(
      {{"torch.nn.functional.one_hot", "aten.one_hot.default"}, lower_one_hot, "equal + cast"});
  registry.add({{"torch.diagonal", "torch.Tensor.diagonal", "aten.diagonal.default"},
                lower_diagonal,
                "transpose + reshape + slice"});
  registry.add({{"torch.cdist", "aten._cdist_forward.default"},
                lower_cdist,
                "sub + abs/mul + sum/max + sqrt/pow"});
  registry.add({{"torch.pdist", "torch.nn.functional.pdist", "aten._pdist_forward.default"},
                lower_pdist,
                "sub + abs/mul + sum/max + sqrt/pow + gather (constant pairs)"});
  registry.add({{"torch.take", "torch.Tensor.take", "aten.take.default"}, lower_take, "gather"});
}

}  // namespace ferry
