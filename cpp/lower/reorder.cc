// Reorderings and triangles: flip (the TF-level `reverse`), roll (static slices and a concat
// per dim; without dims over the flattened tensor) and tril / triu (a constant bool mask with
// `where`, so inf and NaN outside the triangle become exact zeros and inside stay as they are).
#include <algorithm>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

std::vector<std::string> method_names(const std::string& name, bool in_place) {
  std::vector<std::string> out = {"torch." + name, "torch.Tensor." + name,
                                  "aten." + name + ".default"};
  if (in_place) out.insert(out.end(), {"torch.Tensor." + name + "_", "aten." + name + "_.default"});
  return out;
}

// Reverses `dims` (PyTorch numbering); dims of size 1 need nothing.
Value* reverse(LowerContext& ctx, Value* x, const std::vector<int64_t>& dims) {
  std::vector<int64_t> axes;
  for (int64_t d : dims) {
    const int64_t a = normalize_axis(d, x->rank());
    if (std::find(axes.begin(), axes.end(), a) != axes.end())
      throw LowerError("dim " + std::to_string(d) + " appears more than once in 'dims'");
    if (x->rank() > 0 && x->shape[a] > 1) axes.push_back(a);
  }
  std::sort(axes.begin(), axes.end());
  if (axes.empty()) return ctx.emit("identity", {x}, {}, x->dtype, x->shape);
  Attrs attrs;
  attrs.set("axes", axes);
  return ctx.emit("reverse", {x}, std::move(attrs), x->dtype, x->shape);
}

void lower_flip(LowerContext& ctx, std::vector<int64_t> fixed) {
  Value* x = ctx.in(self_arg(ctx));
  if (fixed.empty()) fixed = ctx.attrs().get_ints("dims");
  ctx.set_output(0, reverse(ctx, x, fixed));
}

// Element i moves to (i + shift) mod n: the last `shift` elements come first.
Value* roll_axis(LowerContext& ctx, Value* x, int64_t axis, int64_t shift) {
  const int64_t n = x->shape[axis];
  const int64_t s = normalized_shift(shift, n);
  if (s == 0) return x;
  Attrs attrs;
  attrs.set("axis", axis);
  // At free sizes the rolled dim must be fixed (emit_axis_slice says so); others are whole.
  return ctx.emit(
      "concat", {emit_axis_slice(ctx, x, axis, n - s, n), emit_axis_slice(ctx, x, axis, 0, n - s)},
      std::move(attrs), x->dtype, x->shape, x->sym);
}

void lower_roll(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const std::vector<int64_t> shifts = a.get_ints("shifts");
  const std::vector<int64_t> dims = a.is_none("dims") ? std::vector<int64_t>{} : a.get_ints("dims");
  Value* y = x;
  if (dims.empty()) {
    if (has_free_dims(x->sym)) throw LowerError("roll without dims at free sizes");
    if (shifts.size() != 1)
      throw LowerError("roll without dims takes one shift, got " + std::to_string(shifts.size()));
    const Shape shape = x->shape;
    y = emit_reshape(ctx, x, {num_elements(shape)});
    y = roll_axis(ctx, y, 0, shifts[0]);
    y = emit_reshape(ctx, y, shape);
  } else {
    if (shifts.size() != dims.size())
      throw LowerError("roll has " + std::to_string(shifts.size()) + " shifts for " +
                       std::to_string(dims.size()) + " dims");
    for (size_t i = 0; i < dims.size(); ++i)
      y = roll_axis(ctx, y, normalize_axis(dims[i], x->rank()), shifts[i]);
  }
  if (y == x) y = ctx.emit("identity", {x}, {}, x->dtype, x->shape, x->sym);
  ctx.set_output(0, y);
}

// tril / triu over the last two dims, broadcast over the others.
void lower_triangle(LowerContext& ctx, bool upper) {
  Value* x = ctx.in(self_arg(ctx));
  if (x->rank() < 2)
    throw LowerError(std::string(upper ? "triu" : "tril") + " needs 2 or more dims");
  const int64_t diagonal = ctx.attrs().is_none("diagonal") ? 0 : ctx.attrs().get_int("diagonal");
  const int64_t rows = x->shape[x->rank() - 2], cols = x->shape[x->rank() - 1];
  if (has_free_dims(x->sym)) {
    // Free sizes: keep where col - row >= diagonal (triu) or <= diagonal (tril), compared over
    // run-time positions [rows, 1] and [1, cols].
    const int32_t row_sym = x->sym[x->rank() - 2], col_sym = x->sym[x->rank() - 1];
    Value* row = emit_sized_reshape(ctx, emit_iota(ctx, rows, row_sym), {rows, 1}, {row_sym, -1});
    Value* col = emit_sized_reshape(ctx, emit_iota(ctx, cols, col_sym), {1, cols}, {-1, col_sym});
    Value* offset =
        ctx.emit("sub", {col, row}, {}, DType::kInt32, {rows, cols}, {row_sym, col_sym});
    Value* keep = ctx.emit(upper ? "greater_equal" : "less_equal",
                           {offset, typed_int_scalar(ctx, diagonal, DType::kInt32)}, {},
                           DType::kBool, {rows, cols}, {row_sym, col_sym});
    ctx.set_output(0, emit_select(ctx, keep, x, typed_scalar(ctx, 0, x->dtype)));
    return;
  }
  std::vector<uint8_t> mask = triangle_mask(rows, cols, diagonal, upper);
  auto data = std::make_shared<TensorData>(DType::kBool, Shape{rows, cols});
  std::copy(mask.begin(), mask.end(), data->mutable_as<uint8_t>());
  Value* zero = typed_scalar(ctx, 0, x->dtype);
  ctx.set_output(0, emit_select(ctx, ctx.constant(std::move(data)), x, zero));
}

}  // namespace

void register_reorder_rules(Registry& registry) {
  registry.add(
      {method_names("flip", false), [](LowerContext& ctx) { lower_flip(ctx, {}); }, "reverse"});
  registry.add({{"torch.fliplr", "torch.Tensor.fliplr", "aten.fliplr.default"},
                [](LowerContext& ctx) { lower_flip(ctx, {1}); },
                "reverse"});
  registry.add({{"torch.flipud", "torch.Tensor.flipud", "aten.flipud.default"},
                [](LowerContext& ctx) { lower_flip(ctx, {0}); },
                "reverse"});
  registry.add(
      {method_names("roll", false), lower_roll, "slice + concat per dim", /*free_sizes=*/true});
  registry.add({method_names("tril", true), [](LowerContext& ctx) { lower_triangle(ctx, false); },
                "where (constant bool mask; at free sizes compared positions)",
                /*free_sizes=*/true});
  registry.add({method_names("triu", true), [](LowerContext& ctx) { lower_triangle(ctx, true); },
                "where (constant bool mask; at free sizes compared positions)",
                /*free_sizes=*/true});
}

}  // namespace ferry
