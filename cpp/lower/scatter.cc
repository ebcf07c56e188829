// Writing by index: scatter (src and value forms, reduce), scatter_add, scatter_reduce,
// index_put (`x[idx] = v`, `x[mask] = v`), select_scatter and slice_scatter.
//
// Sums go through `scatter_nd`, which writes into zeros and adds the updates that meet at one
// position. An overwrite scatters the values and a mask of the written positions and keeps x
// elsewhere (`where`); duplicate positions in an overwrite are undefined in PyTorch too. prod,
// amax and amin have no scatter kernel: they compare each index with every position of its dim
// (a one-hot of the dim's size) and reduce. Static positions (select/slice_scatter) are a
// slice_update, boolean masks of x's shape a `where`: neither needs a scatter.
#include <limits>

#include "lower/indexing.h"
#include "lower/rules.h"

namespace ferry {
namespace {

Value* cast(LowerContext& ctx, Value* x, DType dtype) { return cast_to(ctx, x, dtype); }

// Positions `flat` (int32) written: a bool tensor of `shape`.
Value* written_mask(LowerContext& ctx, Value* flat, const Shape& shape) {
  Value* ones = broadcast_to_shape(ctx, ctx.scalar(1, DType::kInt32), flat->shape);
  Value* count = emit_scatter_add(ctx, flat, ones, shape);
  return emit_broadcast_op(ctx, "greater", count, ctx.scalar(0, DType::kInt32));
}

// x with `values` (shape of `flat`) written at `flat`, replacing or adding.
Value* write_at(LowerContext& ctx, Value* x, Value* flat, Value* values, bool accumulate) {
  values = cast(ctx, values, x->dtype);
  Value* scattered = emit_scatter_add(ctx, flat, values, x->shape);
  if (accumulate) return emit_broadcast_op(ctx, "add", x, scattered);
  return emit_where(ctx, written_mask(ctx, flat, x->shape), scattered, x);
}

// src cut to index's shape (scatter reads src only where index has elements), or the scalar
// `value` in that shape.
Value* scatter_source(LowerContext& ctx, Value* x, const Shape& index_shape) {
  Value* src = ctx.in_opt("src");
  if (!src) {
    const Attrs& a = ctx.attrs();
    if (!a.has("value")) throw LowerError("scatter needs src or value");
    return broadcast_to_shape(ctx, typed_scalar(ctx, a.get_float("value"), x->dtype), index_shape);
  }
  if (src->rank() != index_shape.size())
    throw LowerError("scatter: src must have as many dims as index");
  if (src->shape == index_shape) return src;
  Attrs s;
  s.set("begin", std::vector<int64_t>(index_shape.size(), 0));
  s.set("end", index_shape);
  s.set("strides", std::vector<int64_t>(index_shape.size(), 1));
  return ctx.emit("slice", {src}, std::move(s), src->dtype, index_shape);
}

double highest(DType dtype) {
  switch (dtype) {
    case DType::kInt64:
      return static_cast<double>(std::numeric_limits<int64_t>::max());
    case DType::kInt32:
      return std::numeric_limits<int32_t>::max();
    case DType::kInt16:
      return std::numeric_limits<int16_t>::max();
    case DType::kInt8:
      return std::numeric_limits<int8_t>::max();
    case DType::kUInt8:
      return 255;
    default:
      return std::numeric_limits<double>::infinity();
  }
}

Value* scalar_of(LowerContext& ctx, double v, DType dtype) {
  if (dtype == DType::kInt64) {
    return typed_int_scalar(ctx,
                            v <= lowest_value(dtype) ? std::numeric_limits<int64_t>::min()
                            : v >= highest(dtype)    ? std::numeric_limits<int64_t>::max()
                                                     : static_cast<int64_t>(v),
                            dtype);
  }
  return typed_scalar(ctx, v, dtype);
}

// prod / amax / amin of the src values scattered along `dim` (a one-hot of the dim), with the
// reduction's identity where nothing is written; `touched` says where something is.
struct DenseScatter {
  Value* reduced;
  Value* touched;
};

DenseScatter dense_scatter(LowerContext& ctx, Value* x, Value* index, Value* src, int64_t dim,
                           const std::string& reduce) {
  const int64_t size = x->shape[dim];
  const std::string op = reduce == "prod" ? "prod" : reduce == "amax" ? "max" : "min";
  const double identity = reduce == "prod"   ? 1.0
                          : reduce == "amax" ? lowest_value(x->dtype)
                                             : highest(x->dtype);
  Shape expanded = index->shape;
  expanded.push_back(1);
  Shape positions(index->rank() + 1, 1);
  positions.back() = size;
  Value* hot = emit_broadcast_op(ctx, "equal", emit_reshape(ctx, index, expanded),
                                 iota_constant(ctx, positions, index->rank(), 1));
  Value* values = emit_where(ctx, hot, emit_reshape(ctx, cast(ctx, src, x->dtype), expanded),
                             scalar_of(ctx, identity, x->dtype));
  auto reduce_dim = [&](const std::string& r, Value* v) {
    Attrs a;
    a.set("axes", std::vector<int64_t>{dim});
    a.set("keepdims", false);
    Shape s = v->shape;
    s.erase(s.begin() + dim);
    return ctx.emit(r, {v}, std::move(a), v->dtype, s);
  };
  Value* reduced = reduce_dim(op, values);
  Value* touched = reduce_dim("max", cast(ctx, hot, DType::kInt32));
  // [..., size] with the dim last -> the dim back in place.
  const int64_t rank = static_cast<int64_t>(x->rank());
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < rank - 1; ++d) {
    if (d == dim) perm.push_back(rank - 1);
    perm.push_back(d);
  }
  if (dim == rank - 1) perm.push_back(rank - 1);
  auto back = [&](Value* v) {
    if (dim == rank - 1) return v;
    Shape s;
    for (int64_t p : perm) s.push_back(v->shape[p]);
    Attrs t;
    t.set("perm", perm);
    return ctx.emit("transpose", {v}, std::move(t), v->dtype, s);
  };
  reduced = back(reduced);
  touched = back(touched);
  // Dims where index is shorter than x: the rest is never written.
  std::vector<int64_t> pads;
  bool padded = false;
  for (int64_t d = 0; d < rank; ++d) {
    pads.push_back(0);
    pads.push_back(x->shape[d] - reduced->shape[d]);
    padded = padded || pads.back() != 0;
  }
  if (padded) {
    reduced = emit_constant_pad(ctx, reduced, pads, identity);
    touched = emit_constant_pad(ctx, touched, pads, 0);
  }
  return {reduced, emit_broadcast_op(ctx, "greater", touched, ctx.scalar(0, DType::kInt32))};
}

// x.scatter_reduce(dim, index, src, reduce, include_self) for every reduction; reduce="add" and
// "multiply" of scatter are sum and prod with include_self.
Value* scatter_reduce(LowerContext& ctx, Value* x, Value* index, Value* src, int64_t dim,
                      const std::string& reduce, bool include_self) {
  Value* i = emit_index(ctx, index, x->shape[dim], "scatter's index");
  if (reduce == "sum" || reduce == "mean") {
    Value* flat = flat_positions(ctx, i, x->shape, dim);
    Value* sum = emit_scatter_add(ctx, flat, cast(ctx, src, x->dtype), x->shape);
    if (reduce == "sum") {
      return include_self ? emit_broadcast_op(ctx, "add", x, sum)
                          : emit_where(ctx, written_mask(ctx, flat, x->shape), sum, x);
    }
    if (!is_floating(x->dtype))
      throw LowerError("scatter_reduce(reduce='mean') is supported for floating point tensors");
    Value* ones = broadcast_to_shape(ctx, typed_scalar(ctx, 1, x->dtype), flat->shape);
    Value* count = emit_scatter_add(ctx, flat, ones, x->shape);
    if (include_self) {
      Value* total = emit_broadcast_op(ctx, "add", x, sum);
      return emit_broadcast_op(
          ctx, "div", total, emit_broadcast_op(ctx, "add", count, typed_scalar(ctx, 1, x->dtype)));
    }
    Value* written = emit_broadcast_op(ctx, "greater", count, typed_scalar(ctx, 0, x->dtype));
    Value* safe = emit_broadcast_op(ctx, "maximum", count, typed_scalar(ctx, 1, x->dtype));
    return emit_where(ctx, written, emit_broadcast_op(ctx, "div", sum, safe), x);
  }
  if (reduce != "prod" && reduce != "amax" && reduce != "amin")
    throw LowerError("scatter_reduce: unknown reduce='" + reduce + "'");
  DenseScatter d = dense_scatter(ctx, x, i, src, dim, reduce);
  if (!include_self) return emit_where(ctx, d.touched, d.reduced, x);
  const std::string combine = reduce == "prod" ? "mul" : reduce == "amax" ? "maximum" : "minimum";
  return emit_broadcast_op(ctx, combine, x, d.reduced);
}

void lower_scatter(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = normalize_axis(a.get_int("dim"), x->rank());
  Value* index = ctx.in("index");
  if (index->rank() != x->rank()) throw LowerError("scatter: index must have as many dims as x");
  Value* src = scatter_source(ctx, x, index->shape);
  const std::string reduce = a.has("reduce") && !a.is_none("reduce") ? a.get_string("reduce") : "";
  if (reduce.empty()) {
    Value* i = emit_index(ctx, index, x->shape[dim], "scatter's index");
    ctx.set_output(0, write_at(ctx, x, flat_positions(ctx, i, x->shape, dim), src, false));
    return;
  }
  if (reduce != "add" && reduce != "multiply")
    throw LowerError("scatter: reduce must be 'add' or 'multiply', got '" + reduce + "'");
  ctx.set_output(0,
                 scatter_reduce(ctx, x, index, src, dim, reduce == "add" ? "sum" : "prod", true));
}

void lower_scatter_add(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t dim = normalize_axis(ctx.attrs().get_int("dim"), x->rank());
  Value* index = ctx.in("index");
  Value* src = scatter_source(ctx, x, index->shape);
  ctx.set_output(0, scatter_reduce(ctx, x, index, src, dim, "sum", true));
}

void lower_scatter_reduce(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = normalize_axis(a.get_int("dim"), x->rank());
  Value* index = ctx.in("index");
  Value* src = scatter_source(ctx, x, index->shape);
  const bool include_self = !a.has("include_self") || a.get_bool("include_self");
  ctx.set_output(0, scatter_reduce(ctx, x, index, src, dim, a.get_string("reduce"), include_self));
}

// index_put(input, indices, values, accumulate): `x[idx] = v`, `x[idx] += v` (accumulate) and
// `x[mask] = v`. A boolean mask over x's leading dims is a `where`; the values must then be one
// value for every masked element, or come from another tensor read through the same mask
// (`x[mask] = y[mask]`, which the bridge hands over as y itself with `values_masked`).
void lower_index_put(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  std::vector<Value*> indices = ctx.ins("indices");
  const std::vector<int64_t> positions = indices_positions(ctx, indices.size());
  Value* values = ctx.in("values");
  const bool accumulate =
      a.has("accumulate") && !a.is_none("accumulate") && a.get_bool("accumulate");
  const bool masked = a.has("values_masked") && a.get_bool("values_masked");
  if (indices.size() == 1 && indices[0]->dtype == DType::kBool) {
    Value* mask = indices[0];
    const int64_t at = positions[0];
    if (at + mask->rank() > x->rank()) throw LowerError("the mask has more dims than the tensor");
    for (size_t d = 0; d < mask->rank(); ++d) {
      if (mask->shape[d] != x->shape[at + d])
        throw LowerError("the mask's shape does not match the tensor's dims it covers");
    }
    Shape placed(at, 1);
    placed.insert(placed.end(), mask->shape.begin(), mask->shape.end());
    placed.resize(x->rank(), 1);
    if (placed != mask->shape) mask = emit_reshape(ctx, mask, placed);
    if (!masked && num_elements(values->shape) != 1) {
      throw LowerError(
          "x[mask] = values with one value per True entry depends on how many entries are "
          "True; assign a single value, or a tensor read through the same mask (x[mask] = "
          "y[mask]), or use torch.where(mask, y, x)");
    }
    if (!masked && values->rank() > 0) values = emit_reshape(ctx, values, {});
    values = cast(ctx, values, x->dtype);
    if (accumulate) {
      Value* zero = typed_scalar(ctx, 0, x->dtype);
      ctx.set_output(0, emit_broadcast_op(ctx, "add", x, emit_where(ctx, mask, values, zero)));
      return;
    }
    ctx.set_output(0, broadcast_to_shape(ctx, emit_where(ctx, mask, values, x), x->shape));
    return;
  }
  for (Value* i : indices) {
    if (i->dtype == DType::kBool || i->dtype == DType::kUInt8)
      throw LowerError("writing through a boolean mask mixed with other indices is not supported");
  }
  if (masked) throw LowerError("internal: masked values with an integer index");
  Value* flat = advanced_positions(ctx, x->shape, indices, positions);
  Value* v = broadcast_to_shape(ctx, cast(ctx, values, x->dtype), flat->shape);
  ctx.set_output(0, write_at(ctx, x, flat, v, accumulate));
}

// select_scatter(input, src, dim, index) and slice_scatter(input, src, dim, start, end, step):
// static regions, so a slice_update (with the slice's step).
void emit_region(LowerContext& ctx, Value* x, Value* src, int64_t dim, int64_t begin, int64_t end,
                 int64_t step) {
  std::vector<int64_t> b(x->rank(), 0), e = x->shape, s(x->rank(), 1);
  b[dim] = begin;
  e[dim] = end;
  s[dim] = step;
  Shape region = x->shape;
  region[dim] = std::max<int64_t>(0, (end - begin + step - 1) / step);
  src = cast(ctx, src, x->dtype);
  if (src->shape != region) src = emit_reshape(ctx, src, region);
  Attrs attrs;
  attrs.set("begin", b);
  attrs.set("end", e);
  attrs.set("strides", s);
  ctx.emit_output("slice_update", {x, src}, std::move(attrs));
}

void lower_select_scatter(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t dim = normalize_axis(ctx.attrs().get_int("dim"), x->rank());
  int64_t index = ctx.attrs().get_int("index");
  const int64_t size = x->shape[dim];
  if (index < -size || index >= size)
    throw LowerError("select_scatter: index " + std::to_string(index) + " is out of range");
  if (index < 0) index += size;
  emit_region(ctx, x, ctx.in("src"), dim, index, index + 1, 1);
}

void lower_slice_scatter(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = normalize_axis(a.has("dim") ? a.get_int("dim") : 0, x->rank());
  const int64_t size = x->shape[dim];
  auto bound = [&](const char* name, int64_t fallback) {
    if (!a.has(name) || a.is_none(name)) return fallback;
    int64_t v = a.get_int(name);
    if (v < 0) v += size;
    return std::clamp<int64_t>(v, 0, size);
  };
  const int64_t start = bound("start", 0), end = std::max(bound("end", size), start);
  const int64_t step = a.has("step") && !a.is_none("step") ? a.get_int("step") : 1;
  if (step < 1) throw LowerError("slice_scatter: step must be positive");
  emit_region(ctx, x, ctx.in("src"), dim, start, end, step);
}

// masked_scatter(input, mask, source): the k-th True position (row-major over x's shape) takes
// source's k-th element. k, the count of True before each position, is the flat mask times a
// triangular constant (a matmul, exact in float32), so its size is quadratic in x's and bounded.
constexpr int64_t kMaxMaskedScatter = 4096;

void lower_masked_scatter(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  Value* mask = broadcast_to_shape(ctx, ctx.in("mask"), x->shape);
  Value* source = cast(ctx, ctx.in("source"), x->dtype);
  const int64_t n = num_elements(x->shape), available = num_elements(source->shape);
  if (n > kMaxMaskedScatter) {
    throw LowerError("masked_scatter counts the True entries before each position with an " +
                     std::to_string(n) + " x " + std::to_string(n) + " constant; tensors above " +
                     std::to_string(kMaxMaskedScatter) +
                     " elements are not supported (torch.where(mask, y, x) takes y positionally)");
  }
  if (available == 0) throw LowerError("masked_scatter: source is empty");
  auto tri = std::make_shared<TensorData>(DType::kFloat32, Shape{n, n});
  float* t = tri->mutable_as<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) t[i * n + j] = 1.0f;
  Value* flat = cast(ctx, emit_reshape(ctx, mask, {1, n}), DType::kFloat32);
  Value* before = ctx.emit("matmul", {flat, ctx.constant(std::move(tri), Layout::kFixed)}, {},
                           DType::kFloat32, {1, n});
  Value* k = emit_reshape(ctx, cast(ctx, before, DType::kInt32), {n});
  k = emit_broadcast_op(ctx, "minimum", k,
                        ctx.scalar(static_cast<double>(available - 1), DType::kInt32));
  Value* picked = emit_reshape(ctx, emit_gather(ctx, flatten(ctx, source), k, 0), x->shape);
  ctx.set_output(0, emit_where(ctx, mask, picked, x));
}

std::vector<std::string> spellings(const std::string& name, const std::vector<std::string>& aten) {
  std::vector<std::string> out = {"torch." + name, "torch.Tensor." + name,
                                  "torch.Tensor." + name + "_"};
  for (const std::string& o : aten) {
    out.push_back("aten." + name + "." + o);
    out.push_back("aten." + name + "_." + o);
  }
  return out;
}

}  // namespace

void register_scatter_rules(Registry& registry) {
  registry.add({spellings("scatter", {"src", "value", "reduce", "value_reduce"}), lower_scatter,
                "scatter_nd + where (reduce: add / one-hot + prod)"});
  registry.add({spellings("scatter_add", {"default"}), lower_scatter_add, "scatter_nd + add"});
  registry.add({spellings("scatter_reduce", {"two"}), lower_scatter_reduce,
                "scatter_nd (sum, mean) or one-hot + prod/max/min, + where"});
  registry.add({spellings("index_put", {"default"}), lower_index_put,
                "scatter_nd + where; a boolean mask: where"});
  registry.add({{"aten._index_put_impl_.default", "aten._index_put_impl.default"},
                lower_index_put,
                "scatter_nd + where; a boolean mask: where"});
  registry.add({spellings("masked_scatter", {"default"}), lower_masked_scatter,
                "matmul (count of True before each position) + gather + where"});
  registry.add(
      {{"torch.select_scatter", "torch.Tensor.select_scatter", "aten.select_scatter.default"},
       lower_select_scatter,
       "slice_update"});
  registry.add({{"torch.slice_scatter", "torch.Tensor.slice_scatter", "aten.slice_scatter.default"},
                lower_slice_scatter,
                "slice_update"});
}

}  // namespace ferry
