// Reductions and softmax. Axes stay in PyTorch numbering (the layout stage remaps them) and are
// always listed explicitly: a TF reduction over `axes: []` reduces nothing, while PyTorch's
// `dim=None` (and `dim=[]` for sum, mean, amax, amin) means every dim.
#include <algorithm>
#include <cstdio>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

std::vector<int64_t> all_axes(size_t rank) {
  std::vector<int64_t> axes(rank);
  for (size_t i = 0; i < rank; ++i) axes[i] = static_cast<int64_t>(i);
  return axes;
}

bool keepdim(const Attrs& attrs) { return !attrs.is_none("keepdim") && attrs.get_bool("keepdim"); }

// Binds output i to v, reshaped to the recorded shape when it differs.
void bind(LowerContext& ctx, Value* v, size_t i) {
  const Value& out = ctx.torch_output(i);
  ctx.set_output(i, v->shape == out.shape ? v : emit_sized_reshape(ctx, v, out.shape, out.sym));
}

// The input in the result type: a `dtype=` argument casts before reducing, and integer and
// bool sums accumulate in int64.
Value* input_as_result(LowerContext& ctx) {
  return cast_to(ctx, ctx.in(self_arg(ctx)), ctx.torch_output().dtype);
}

// Free sizes: TF's reductions take any size (MEAN divides by the run-time count).
LowerFn reduction(const std::string& op) {
  return [op](LowerContext& ctx) {
    Value* x = input_as_result(ctx);
    bind(ctx,
         emit_reduction(ctx, op, x, reduction_axes(ctx.attrs(), x->rank()), keepdim(ctx.attrs())),
         0);
  };
}

// The index of the first extreme element along `axis` (keeping the dim), as PyTorch's
// max/min/argmax return it: the smallest position where x equals the extreme `m` (computed
// with keepdims), or, where the extreme is NaN, the first NaN.
Value* first_index_of(LowerContext& ctx, Value* x, Value* m, int64_t axis) {
  const int64_t n = x->shape[axis];
  Shape iota_shape(x->rank(), 1);
  iota_shape[axis] = n;
  auto positions = std::make_shared<TensorData>(DType::kInt64, iota_shape);
  for (int64_t i = 0; i < n; ++i) positions->mutable_as<int64_t>()[i] = i;
  Value* match = ctx.emit("equal", {x, m}, {}, DType::kBool, x->shape);
  if (is_floating(x->dtype)) {
    Value* nan = ctx.emit("not_equal", {x, x}, {}, DType::kBool, x->shape);
    match = ctx.emit("logical_or", {match, nan}, {}, DType::kBool, x->shape);
  }
  Value* candidates =
      ctx.emit("where", {match, ctx.constant(positions), ctx.scalar(n, DType::kInt64)}, {},
               DType::kInt64, x->shape);
  return emit_reduction(ctx, "min", candidates, {axis}, true);
}

// torch.max / torch.min in all three forms: (input) reduces everything, (input, dim) returns
// values and indices, (input, other) is the elementwise maximum / minimum.
void lower_max_min(LowerContext& ctx, bool is_max) {
  const std::string op = is_max ? "max" : "min";
  const DType dtype = ctx.torch_output().dtype;
  if (ctx.has_tensor("other")) {
    Value* a = cast_to(ctx, ctx.in(self_arg(ctx)), dtype);
    Value* b = cast_to(ctx, ctx.in("other"), dtype);
    ctx.emit_output(is_max ? "maximum" : "minimum", {a, b});
    return;
  }
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& attrs = ctx.attrs();
  if (attrs.is_none("dim")) {
    ctx.set_output(0, emit_reduction(ctx, op, x, all_axes(x->rank()), false));
    return;
  }
  const int64_t axis = normalize_axis(attrs.get_int("dim"), x->rank());
  Value* m = emit_reduction(ctx, op, x, {axis}, true);
  bind(ctx, m, 0);
  if (ctx.num_outputs() < 2) return;
  // Free sizes: the values only (the indices' first-match search is not written for them).
  if (has_free_dims(x->sym)) return bind_unread_outputs(ctx, 1, ctx.node().op, "the indices");
  bind(ctx, first_index_of(ctx, x, m, axis), 1);
}

// argmax / argmin; without a dim they index the flattened tensor.
void lower_arg(LowerContext& ctx, bool is_max) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& attrs = ctx.attrs();
  int64_t axis = 0;
  if (attrs.is_none("dim")) {
    if (x->rank() != 1) x = emit_reshape(ctx, x, {num_elements(x->shape)});
  } else {
    axis = normalize_axis(attrs.get_int("dim"), x->rank());
  }
  Value* m = emit_reduction(ctx, is_max ? "max" : "min", x, {axis}, true);
  bind(ctx, first_index_of(ctx, x, m, axis), 0);
}

// softmax's dim may be None in the functional form, which picks the dim PyTorch's
// _get_softmax_dim does; `dtype` (and aten's half_to_float) cast the input first.
LowerFn softmax(const std::string& op) {
  return [op](LowerContext& ctx) {
    Value* x = input_as_result(ctx);
    const Attrs& attrs = ctx.attrs();
    const size_t rank = x->rank();
    int64_t dim = 0;
    if (attrs.is_none("dim")) {
      dim = rank == 0 || rank == 1 || rank == 3 ? 0 : 1;
    } else {
      dim = normalize_axis(attrs.get_int("dim"), rank);
    }
    Attrs out_attrs;
    out_attrs.set("axis", dim);
    ctx.emit_output(op, {x}, std::move(out_attrs));
  };
}

// F.normalize: x / max(||x||_p, eps) along `dim`, the norm kept as a size-1 dim to broadcast.
// One rule for the whole function instead of its aten pieces (linalg_vector_norm, clamp_min,
// expand_as, div) keeps the graph to the ops below.
void lower_normalize(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& attrs = ctx.attrs();
  const double p = attrs.is_none("p") ? 2.0 : attrs.get_float("p");
  const int64_t dim = normalize_axis(attrs.is_none("dim") ? 1 : attrs.get_int("dim"), x->rank());
  const double eps = attrs.is_none("eps") ? 1e-12 : attrs.get_float("eps");
  if (!is_floating(x->dtype)) throw LowerError("normalize needs a floating-point input");
  Value* norm = nullptr;
  if (p == 2.0) {
    Value* squares = ctx.emit("mul", {x, x}, {}, x->dtype, x->shape, x->sym);
    Value* sum = emit_reduction(ctx, "sum", squares, {dim}, true);
    norm = ctx.emit("sqrt", {sum}, {}, sum->dtype, sum->shape, sum->sym);
  } else if (p == 1.0) {
    Value* magnitudes = ctx.emit("abs", {x}, {}, x->dtype, x->shape, x->sym);
    norm = emit_reduction(ctx, "sum", magnitudes, {dim}, true);
  } else {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", p);
    throw LowerError(std::string("normalize supports p=1 and p=2, got p=") + shown);
  }
  Value* denominator = ctx.emit("maximum", {norm, typed_scalar(ctx, eps, x->dtype)}, {}, x->dtype,
                                norm->shape, norm->sym);
  ctx.emit_output("div", {x, denominator});
}

}  // namespace

void register_reduce_rules(Registry& registry) {
  registry.add(
      {torch_names("mean", {"default", "dim"}), reduction("mean"), "mean", /*free_sizes=*/true});
  registry.add({torch_names("sum", {"default", "dim_IntList"}), reduction("sum"), "sum",
                /*free_sizes=*/true});
  registry.add({torch_names("prod", {"default", "dim_int"}), reduction("prod"), "prod",
                /*free_sizes=*/true});
  registry.add({torch_names("amax", {"default"}), reduction("max"), "max", /*free_sizes=*/true});
  registry.add({torch_names("amin", {"default"}), reduction("min"), "min", /*free_sizes=*/true});
  registry.add({torch_names("max", {"default", "dim", "other"}),
                [](LowerContext& ctx) { lower_max_min(ctx, true); },
                "max (indices: equal + where + min), or maximum", /*free_sizes=*/true});
  registry.add({torch_names("min", {"default", "dim", "other"}),
                [](LowerContext& ctx) { lower_max_min(ctx, false); },
                "min (indices: equal + where + min), or minimum", /*free_sizes=*/true});
  registry.add({torch_names("argmax", {"default"}), [](LowerContext& ctx) { lower_arg(ctx, true); },
                "max + equal + where + min"});
  registry.add({torch_names("argmin", {"default"}),
                [](LowerContext& ctx) { lower_arg(ctx, false); }, "min + equal + where + min"});
  registry.add({torch_names("softmax", {"int"}) +
                    std::vector<std::string>{"torch.nn.functional.softmax", "torch.special.softmax",
                                             "aten._softmax.default"},
                softmax("softmax"), "softmax", /*free_sizes=*/true});
  registry.add(
      {torch_names("log_softmax", {"int"}) +
           std::vector<std::string>{"torch.nn.functional.log_softmax", "torch.special.log_softmax",
                                    "aten._log_softmax.default"},
       softmax("log_softmax"), "log_softmax", /*free_sizes=*/true});
  registry.add({{"torch.nn.functional.normalize"},
                lower_normalize,
                "sum (of mul or abs) + sqrt + maximum + div",
                /*free_sizes=*/true});
}

}  // namespace ferry
