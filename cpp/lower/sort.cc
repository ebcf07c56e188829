// Sorting: topk, sort, argsort, msort, kthvalue and median, all through the TF-level `top_k`,
// which works on the last axis and returns the largest first (ties: the lower index first).
// Another dim is moved last and back with transposes; the smallest come first by ordering the
// negated values (integers: bitwise not, -x - 1, which cannot overflow). top_k's int32 indices
// are cast to PyTorch's int64 where the call returns them.
#include <algorithm>

#include "lower/indexing.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// -x for floats, -x - 1 for integers: reverses the order, keeps ties tied.
Value* reverse_order(LowerContext& ctx, Value* x) {
  if (is_floating(x->dtype)) return ctx.emit("neg", {x}, {}, x->dtype, x->shape);
  if (x->dtype == DType::kBool) throw LowerError("sorting bool tensors is not supported");
  Value* negated = ctx.emit("neg", {x}, {}, x->dtype, x->shape);
  return emit_broadcast_op(ctx, "sub", negated, typed_int_scalar(ctx, 1, x->dtype));
}

Value* swap_last(LowerContext& ctx, Value* x, int64_t dim) {
  const int64_t last = static_cast<int64_t>(x->rank()) - 1;
  if (dim == last) return x;
  std::vector<int64_t> perm(x->rank());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  std::swap(perm[dim], perm[last]);
  Shape shape = x->shape;
  std::swap(shape[dim], shape[last]);
  Attrs t;
  t.set("perm", perm);
  return ctx.emit("transpose", {x}, std::move(t), x->dtype, shape);
}

struct Sorted {
  Value* values;
  Value* indices;  // int64, as PyTorch returns them
};

// The k largest (or smallest) entries of x along `dim`, sorted, with their int64 indices.
Sorted top_k(LowerContext& ctx, Value* x, int64_t k, int64_t dim, bool largest) {
  if (x->rank() == 0) x = emit_reshape(ctx, x, {1});
  const int64_t size = x->shape[dim];
  if (k < 0 || k > size)
    throw LowerError("k=" + std::to_string(k) + " is out of range for a dim of size " +
                     std::to_string(size));
  Value* moved = swap_last(ctx, x, dim);
  Value* keyed = largest ? moved : reverse_order(ctx, moved);
  Shape shape = moved->shape;
  shape.back() = k;
  Attrs attrs;
  attrs.set("k", k);
  Node* n = ctx.graph().add_node("top_k", {keyed}, std::move(attrs));
  n->scope = ctx.node().scope;
  n->origin = ctx.node().origin;
  Value* values = ctx.graph().add_value(keyed->dtype, shape);
  Value* indices = ctx.graph().add_value(DType::kInt32, shape);
  ctx.graph().add_output_to(n, values);
  ctx.graph().add_output_to(n, indices);
  if (!largest) values = reverse_order(ctx, values);
  return {swap_last(ctx, values, dim), swap_last(ctx, cast_to(ctx, indices, DType::kInt64), dim)};
}

int64_t dim_or(const Attrs& a, int64_t fallback, size_t rank) {
  const int64_t d = a.has("dim") && !a.is_none("dim") ? a.get_int("dim") : fallback;
  return normalize_axis(d, std::max<size_t>(rank, 1));
}

bool flag(const Attrs& a, const char* name, bool fallback) {
  return a.has(name) && !a.is_none(name) ? a.get_bool(name) : fallback;
}

void bind(LowerContext& ctx, Value* v, size_t i) {
  if (i < ctx.num_outputs()) set_output_reshaped(ctx, v, i);
}

void lower_topk(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  if (!flag(a, "sorted", true)) {
    throw LowerError(
        "topk(sorted=False) returns the k entries in an order PyTorch leaves unspecified (its "
        "CPU kernel does not sort them); the converted graph returns them sorted: pass "
        "sorted=True");
  }
  Sorted s = top_k(ctx, x, a.get_int("k"), dim_or(a, -1, x->rank()), flag(a, "largest", true));
  bind(ctx, s.values, 0);
  bind(ctx, s.indices, 1);
}

void lower_sort(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = dim_or(a, -1, x->rank());
  // top_k puts equal values in index order whichever way it sorts, so stable=True holds too.
  Sorted s = top_k(ctx, x, x->rank() ? x->shape[dim] : 1, dim, flag(a, "descending", false));
  bind(ctx, s.values, 0);
  bind(ctx, s.indices, 1);
}

void lower_argsort(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = dim_or(a, -1, x->rank());
  Sorted s = top_k(ctx, x, x->rank() ? x->shape[dim] : 1, dim, flag(a, "descending", false));
  bind(ctx, s.indices, 0);
}

void lower_msort(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  bind(ctx, top_k(ctx, x, x->rank() ? x->shape[0] : 1, 0, false).values, 0);
}

// The k-th smallest along dim (1-based), and its index: the last of the k smallest.
Sorted kth_smallest(LowerContext& ctx, Value* x, int64_t k, int64_t dim, bool keepdim) {
  Sorted s = top_k(ctx, x, k, dim, false);
  auto pick = [&](Value* v) {
    std::vector<int64_t> begin(v->rank(), 0), end = v->shape, step(v->rank(), 1);
    begin[dim] = k - 1;
    Shape shape = v->shape;
    shape[dim] = 1;
    Attrs sl;
    sl.set("begin", begin);
    sl.set("end", end);
    sl.set("strides", step);
    Value* y = ctx.emit("slice", {v}, std::move(sl), v->dtype, shape);
    if (keepdim) return y;
    shape.erase(shape.begin() + dim);
    return emit_reshape(ctx, y, shape);
  };
  return {pick(s.values), pick(s.indices)};
}

void lower_kthvalue(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t dim = dim_or(a, -1, x->rank());
  Sorted s = kth_smallest(ctx, x, a.get_int("k"), dim, flag(a, "keepdim", false));
  bind(ctx, s.values, 0);
  bind(ctx, s.indices, 1);
}

// median: the lower of the two middle values, as PyTorch returns; without a dim, of all
// elements (value only).
void lower_median(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  if (!is_floating(x->dtype) && x->dtype != DType::kInt32 && x->dtype != DType::kInt64)
    throw LowerError("median supports floating point and int32/int64 tensors");
  if (!a.has("dim") || a.is_none("dim")) {
    Value* flat = flatten(ctx, x->rank() ? x : emit_reshape(ctx, x, {1}));
    const int64_t n = flat->shape[0];
    bind(ctx, kth_smallest(ctx, flat, (n - 1) / 2 + 1, 0, false).values, 0);
    return;
  }
  const int64_t dim = dim_or(a, -1, x->rank());
  const int64_t n = x->rank() ? x->shape[dim] : 1;
  Sorted s = kth_smallest(ctx, x, (n - 1) / 2 + 1, dim, flag(a, "keepdim", false));
  bind(ctx, s.values, 0);
  bind(ctx, s.indices, 1);
}

}  // namespace

void register_sort_rules(Registry& registry) {
  registry.add({torch_names("topk", {"default"}), lower_topk, "top_k (+ transpose, neg, cast)"});
  registry.add(
      {torch_names("sort", {"default", "stable"}), lower_sort, "top_k (+ transpose, neg, cast)"});
  registry.add({torch_names("argsort", {"default", "stable"}), lower_argsort,
                "top_k (+ transpose, neg, cast)"});
  registry.add({torch_names("msort", {"default"}), lower_msort, "top_k (+ transpose, neg)"});
  registry.add({torch_names("kthvalue", {"default"}), lower_kthvalue,
                "top_k (+ transpose, neg, cast) + slice"});
  registry.add({torch_names("median", {"default", "dim"}), lower_median, "top_k (+ neg) + slice"});
}

}  // namespace ferry
