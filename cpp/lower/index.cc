// Indexing, slicing and joining: `x[...]`, slice / select / narrow, and cat. Every selection
// becomes one full-rank `slice` with explicit bounds, followed by a `reshape` to the recorded
// shape when dims were dropped (an int index) or added (None).
#include <algorithm>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

struct Bounds {
  std::vector<int64_t> begin, end, step;
};

Bounds whole(const Value& x) {
  Bounds b;
  for (int64_t d : x.shape) {
    b.begin.push_back(0);
    b.end.push_back(d);
    b.step.push_back(1);
  }
  return b;
}

// Free sizes: a selection along one fixed dim, every other dim whole (emit_axis_slice), then
// reshaped to the recorded shape; a bound on a free dim would need its run-time size.
void lower_free_selection(LowerContext& ctx, Value* x, const Bounds& b) {
  int64_t axis = -1;
  for (size_t i = 0; i < x->rank(); ++i) {
    const bool whole = b.begin[i] == 0 && b.end[i] >= x->shape[i] && b.step[i] == 1;
    if (whole) continue;
    if (axis >= 0 || x->sym[i] >= 0 || b.step[i] != 1) {
      throw LowerError(
          "slicing a free dim, or several dims, at free sizes is not supported "
          "here yet (x[...] indexing is)");
    }
    axis = static_cast<int64_t>(i);
  }
  Value* y = axis < 0 ? x : emit_axis_slice(ctx, x, axis, b.begin[axis], b.end[axis]);
  const Value& out = ctx.torch_output();
  if (y->shape != out.shape) {
    y = emit_sized_reshape(ctx, y, out.shape, out.sym);
  } else if (y == x) {
    y = ctx.emit("identity", {x}, {}, x->dtype, x->shape, x->sym);
  }
  ctx.set_output(0, y);
}

// Slices x to `b` (skipped when it selects everything) and binds output 0, reshaped to the
// recorded shape when that differs.
void lower_selection(LowerContext& ctx, Value* x, Bounds b) {
  const size_t rank = x->rank();
  if (has_free_dims(x->sym)) {
    for (size_t i = 0; i < rank && i < b.begin.size() && i < b.end.size(); ++i) {
      b.begin[i] = std::clamp<int64_t>(b.begin[i], 0, x->shape[i]);
      b.end[i] = std::clamp<int64_t>(b.end[i], b.begin[i], x->shape[i]);
    }
    lower_free_selection(ctx, x, b);
    return;
  }
  if (b.begin.size() != rank || b.end.size() != rank || b.step.size() != rank) {
    throw LowerError("the index has " + std::to_string(b.begin.size()) + " entries for a " +
                     std::to_string(rank) + "-d tensor");
  }
  bool everything = true;
  Shape shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (b.step[i] < 1) throw LowerError("slice steps must be positive");
    b.begin[i] = std::clamp<int64_t>(b.begin[i], 0, x->shape[i]);
    b.end[i] = std::clamp<int64_t>(b.end[i], b.begin[i], x->shape[i]);
    shape[i] = (b.end[i] - b.begin[i] + b.step[i] - 1) / b.step[i];
    everything = everything && shape[i] == x->shape[i];
  }
  Value* y = x;
  if (!everything) {
    Attrs attrs;
    attrs.set("begin", b.begin);
    attrs.set("end", b.end);
    attrs.set("strides", b.step);
    y = ctx.emit("slice", {x}, std::move(attrs), x->dtype, std::move(shape));
  }
  const Shape& out = ctx.torch_output().shape;
  if (y->shape != out) {
    y = emit_reshape(ctx, y, out);
  } else if (y == x) {
    y = ctx.emit("identity", {x}, {}, x->dtype, x->shape);
  }
  ctx.set_output(0, y);
}

void emit_free_slice(LowerContext& ctx, Value* x, std::vector<int64_t> begin,
                     std::vector<int64_t> end, const std::vector<int64_t>& step,
                     const std::vector<int64_t>& begin_expr, const std::vector<int64_t>& end_expr,
                     const Shape& shape, SymDims sym);

// `x[...]` on free sizes: the bridge gives each dim's bounds as PyTorch wrote them
// (`free_begin`, `free_end`; a negative bound or one that follows a free size is an
// expression, `begin_expr` / `end_expr`, read at run time) and each dim's selected size
// (`slice_shape` at the traced sizes, `slice_sym`). The slice clamps out-of-range bounds as
// PyTorch does; an end past every size stands for "to the end".
void lower_free_getitem(LowerContext& ctx) {
  const Attrs& attrs = ctx.attrs();
  Value* x = ctx.in(self_arg(ctx));
  const size_t rank = x->rank();
  std::vector<int64_t> begin = attrs.get_ints("free_begin"), end = attrs.get_ints("free_end"),
                       step = attrs.get_ints("step"), begin_expr = attrs.get_ints("begin_expr"),
                       end_expr = attrs.get_ints("end_expr");
  Shape shape = attrs.get_ints("slice_shape");
  const std::vector<int64_t> slice_sym = attrs.get_ints("slice_sym");
  const size_t sizes[] = {begin.size(),    end.size(),   step.size(),     begin_expr.size(),
                          end_expr.size(), shape.size(), slice_sym.size()};
  for (size_t n : sizes) {
    if (n != rank) throw LowerError("internal: a free index of the wrong length");
  }
  emit_free_slice(ctx, x, begin, end, step, begin_expr, end_expr, shape,
                  SymDims(slice_sym.begin(), slice_sym.end()));
}

// A slice whose bounds may follow free sizes (an expression index in `begin_expr` /
// `end_expr`, -1 for the constant in `begin` / `end`), giving `shape` (free where `sym` says);
// bound to the call's output, reshaped to it when they differ.
void emit_free_slice(LowerContext& ctx, Value* x, std::vector<int64_t> begin,
                     std::vector<int64_t> end, const std::vector<int64_t>& step,
                     const std::vector<int64_t>& begin_expr, const std::vector<int64_t>& end_expr,
                     const Shape& shape, SymDims sym) {
  const size_t rank = x->rank();
  std::vector<Value*> inputs{x};
  std::vector<int64_t> begin_from(rank, -1), end_from(rank, -1);
  auto bound = [&](int64_t expr, int64_t& constant, int64_t& from) {
    if (expr < 0) return;
    from = static_cast<int64_t>(inputs.size());
    inputs.push_back(ctx.size_value(static_cast<int32_t>(expr)));
    constant = ctx.graph().symbols->hint(static_cast<int32_t>(expr));
  };
  for (size_t d = 0; d < rank; ++d) {
    if (step[d] < 1) throw LowerError("slice steps must be positive");
    bound(begin_expr[d], begin[d], begin_from[d]);
    bound(end_expr[d], end[d], end_from[d]);
  }
  Attrs slice;
  slice.set("begin", begin);
  slice.set("end", end);
  slice.set("strides", step);
  if (inputs.size() > 1) {
    slice.set("begin_from", begin_from);
    slice.set("end_from", end_from);
  }
  Value* y = ctx.emit("slice", std::move(inputs), std::move(slice), x->dtype, shape, sym);
  const Value& out = ctx.torch_output();
  if (y->shape != out.shape) y = emit_sized_reshape(ctx, y, out.shape, out.sym);
  ctx.set_output(0, y);
}

// `x[...]` with basic indices only; the bridge has already resolved ellipses, negative and
// out-of-range bounds into one begin/end/step per input dim.
void lower_getitem(LowerContext& ctx) {
  if (ctx.has_tensor("index")) {
    throw LowerError("indexing with a tensor (advanced indexing) is not supported yet");
  }
  const Attrs& attrs = ctx.attrs();
  if (attrs.has("free_begin")) return lower_free_getitem(ctx);
  Bounds b{attrs.get_ints("begin"), attrs.get_ints("end"), attrs.get_ints("step")};
  lower_selection(ctx, ctx.in(self_arg(ctx)), std::move(b));
}

// A PyTorch start/end bound (None, negative or past the end allowed) as an index in [0, size].
int64_t clamp_bound(const Attrs& attrs, const std::string& name, int64_t fallback, int64_t size) {
  if (attrs.is_none(name)) return fallback;
  int64_t v = attrs.get_int(name);
  if (v < 0) v += size;
  return std::clamp<int64_t>(v, 0, size);
}

int64_t dim_arg(LowerContext& ctx, const Value& x) {
  const Attrs& attrs = ctx.attrs();
  return normalize_axis(attrs.is_none("dim") ? 0 : attrs.get_int("dim"), x.rank());
}

// aten.slice.Tensor(self, dim, start, end, step).
void lower_slice(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& attrs = ctx.attrs();
  const int64_t dim = dim_arg(ctx, *x);
  const int64_t size = x->shape[dim];
  // A bound that follows a free size comes as an expression (`start_expr`, `end_expr`).
  auto expr_of = [&](const std::string& name) -> int32_t {
    const std::string key = name + "_expr";
    return attrs.has(key) ? static_cast<int32_t>(attrs.get_ints(key).at(0)) : -1;
  };
  const auto d = static_cast<size_t>(dim);
  const int32_t n = x->sym.size() > d ? x->sym[d] : -1;  // the dim's size, when free
  if (n < 0 && expr_of("start") < 0 && expr_of("end") < 0) {
    Bounds b = whole(*x);
    b.begin[dim] = clamp_bound(attrs, "start", 0, size);
    b.end[dim] = clamp_bound(attrs, "end", size, size);
    b.step[dim] = attrs.is_none("step") ? 1 : attrs.get_int("step");
    lower_selection(ctx, x, std::move(b));
    return;
  }
  // Free sizes: a bound that follows one, or counts from the end of a free dim (negative, or
  // past every size), is read at run time; the other dims are taken whole.
  const int64_t kPastAll = int64_t{1} << 31;
  std::vector<int64_t> begin(x->rank(), 0), end = x->shape, step(x->rank(), 1);
  std::vector<int64_t> begin_expr(x->rank(), -1), end_expr(x->rank(), -1);
  for (size_t k = 0; k < x->rank(); ++k)
    if (k != d && !x->sym.empty() && x->sym[k] >= 0) end_expr[k] = x->sym[k];
  step[d] = attrs.is_none("step") ? 1 : attrs.get_int("step");
  const int64_t start = attrs.is_none("start") ? 0 : attrs.get_int("start");
  const int64_t stop = attrs.is_none("end") ? kPastAll : attrs.get_int("end");
  if (expr_of("start") >= 0) {
    begin_expr[d] = expr_of("start");
  } else if (start < 0 && n >= 0) {
    begin_expr[d] = ctx.sym_plus(n, start);
  } else {
    begin[d] = clamp_bound(attrs, "start", 0, size);
  }
  if (expr_of("end") >= 0) {
    end_expr[d] = expr_of("end");
  } else if (n >= 0 && stop < 0) {
    end_expr[d] = ctx.sym_plus(n, stop);
  } else if (n >= 0 && stop >= kPastAll) {
    end_expr[d] = n;
  } else {
    end[d] = n >= 0 ? stop : clamp_bound(attrs, "end", size, size);  // clamped at run time
  }
  const Value& out = ctx.torch_output();
  if (out.rank() != x->rank()) throw LowerError("internal: a slice that changes the rank");
  emit_free_slice(ctx, x, begin, end, step, begin_expr, end_expr, out.shape, out.sym);
}

// select(dim, index): one position of a dim, which the result drops.
void lower_select(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t dim = dim_arg(ctx, *x);
  const int64_t size = x->shape[dim];
  int64_t index = ctx.attrs().get_int("index");
  if (index < -size || index >= size) {
    throw LowerError("index " + std::to_string(index) + " is out of range for a dim of size " +
                     std::to_string(size));
  }
  if (index < 0) index += size;
  Bounds b = whole(*x);
  b.begin[dim] = index;
  b.end[dim] = index + 1;
  lower_selection(ctx, x, std::move(b));
}

// narrow(dim, start, length).
void lower_narrow(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& attrs = ctx.attrs();
  const int64_t dim = dim_arg(ctx, *x);
  const int64_t size = x->shape[dim];
  if (x->sym.size() > static_cast<size_t>(dim) && x->sym[dim] >= 0)
    throw LowerError("narrow of a free dim is not supported yet (x[...] indexing is)");
  int64_t start = attrs.get_int("start");
  const int64_t length = attrs.get_int("length");
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size) {
    throw LowerError("narrow(start=" + std::to_string(attrs.get_int("start")) +
                     ", length=" + std::to_string(length) + ") is out of range for a dim of size " +
                     std::to_string(size));
  }
  Bounds b = whole(*x);
  b.begin[dim] = start;
  b.end[dim] = start + length;
  lower_selection(ctx, x, std::move(b));
}

// cat promotes its operands to one type. Empty operands add nothing (and PyTorch accepts a
// 1-d empty tensor of any rank there), so they are left out.
void lower_cat(LowerContext& ctx) {
  const Value& out = ctx.torch_output();
  const Attrs& attrs = ctx.attrs();
  const std::string dim_name = attrs.has("axis") && !attrs.has("dim") ? "axis" : "dim";
  const int64_t axis =
      normalize_axis(attrs.is_none(dim_name) ? 0 : attrs.get_int(dim_name), out.rank());
  const std::vector<Value*> tensors = ctx.ins("tensors");
  if (tensors.empty()) throw LowerError("cat needs at least one tensor");
  std::vector<Value*> parts;
  for (Value* t : tensors) {
    if (num_elements(t->shape) > 0) parts.push_back(cast_to(ctx, t, out.dtype));
  }
  if (parts.empty()) {
    if (has_free_dims(out.sym)) throw LowerError("joining only empty tensors at a free size");
    // Nothing to join: the result is empty too, of the recorded shape.
    Value* first = cast_to(ctx, tensors[0], out.dtype);
    ctx.set_output(0, first->shape == out.shape
                          ? ctx.emit("identity", {first}, {}, out.dtype, out.shape)
                          : emit_reshape(ctx, first, out.shape));
    return;
  }
  if (parts.size() == 1) {
    ctx.emit_output("identity", {parts[0]});  // the recorded type and free sizes
    return;
  }
  Attrs cat_attrs;
  cat_attrs.set("axis", axis);
  ctx.emit_output("concat", std::move(parts), std::move(cat_attrs));
}

}  // namespace

void register_index_rules(Registry& registry) {
  registry.add({{"torch.Tensor.__getitem__"},
                lower_getitem,
                "slice + reshape",
                /*free_sizes=*/true});
  // At free sizes: along a fixed dim, every other dim taken whole.
  registry.add({{"aten.slice.Tensor"}, lower_slice, "slice", /*free_sizes=*/true});
  registry.add({{"torch.select", "torch.Tensor.select", "aten.select.int"},
                lower_select,
                "slice + reshape",
                /*free_sizes=*/true});
  registry.add({{"torch.narrow", "torch.Tensor.narrow", "aten.narrow.default"},
                lower_narrow,
                "slice",
                /*free_sizes=*/true});
  registry.add({{"torch.cat", "torch.concat", "torch.concatenate", "aten.cat.default",
                 "aten.concat.default", "aten.concatenate.default"},
                lower_cat,
                "concat",
                /*free_sizes=*/true});
}

}  // namespace ferry
