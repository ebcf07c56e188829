// Calls that are a few elementwise ops or slices written as one function: hypot, lerp,
// addcmul, addcdiv, and Tensor.unfold's sliding windows. Composed from TF-level ops both back
// ends already have, in PyTorch's own formulas so the rounding matches.
#include <string>
#include <vector>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

DType float_result(LowerContext& ctx) {
  const DType dtype = ctx.torch_output().dtype;
  if (!is_floating(dtype)) throw LowerError("expects floating point tensors");
  return dtype;
}

void bind(LowerContext& ctx, Value* y) {
  ctx.set_output(0, emit_broadcast_to(ctx, y, ctx.torch_output().shape));
}

// sqrt(a * a + b * b).
void lower_hypot(LowerContext& ctx) {
  const DType dtype = float_result(ctx);
  Value* a = operand(ctx, self_arg(ctx), dtype);
  Value* b = operand(ctx, "other", dtype);
  Value* sum = emit_binary_op(ctx, "add", emit_binary_op(ctx, "mul", a, a),
                              emit_binary_op(ctx, "mul", b, b));
  bind(ctx, ctx.emit("sqrt", {sum}, {}, dtype, sum->shape));
}

// ATen's lerp: start + weight * (end - start) where |weight| < 0.5, else
// end - (end - start) * (1 - weight), which keeps lerp(a, b, 1) == b exactly.
void lower_lerp(LowerContext& ctx) {
  const DType dtype = float_result(ctx);
  Value* start = operand(ctx, self_arg(ctx), dtype);
  Value* end = operand(ctx, "end", dtype);
  Value* weight = operand(ctx, "weight", dtype);
  Value* diff = emit_binary_op(ctx, "sub", end, start);
  Value* low = emit_binary_op(ctx, "add", start, emit_binary_op(ctx, "mul", weight, diff));
  Value* one = typed_scalar(ctx, 1.0, dtype);
  Value* high = emit_binary_op(
      ctx, "sub", end, emit_binary_op(ctx, "mul", diff, emit_binary_op(ctx, "sub", one, weight)));
  Value* abs_w = ctx.emit("abs", {weight}, {}, dtype, weight->shape);
  Value* small =
      ctx.emit("less", {abs_w, typed_scalar(ctx, 0.5, dtype)}, {}, DType::kBool, abs_w->shape);
  const Shape shape = broadcast_shapes(small->shape, broadcast_shapes(low->shape, high->shape));
  bind(ctx, ctx.emit("where", {small, low, high}, {}, dtype, shape));
}

// input + value * (tensor1 * tensor2), or (tensor1 / tensor2) for addcdiv.
void lower_addc(LowerContext& ctx, const std::string& op) {
  const DType dtype = ctx.torch_output().dtype;
  if (op == "div" && !is_floating(dtype)) throw LowerError("addcdiv needs floating point tensors");
  Value* x = operand(ctx, self_arg(ctx), dtype);
  Value* t =
      emit_binary_op(ctx, op, operand(ctx, "tensor1", dtype), operand(ctx, "tensor2", dtype));
  const Attrs& a = ctx.attrs();
  if (a.has("value") && !a.is_none("value") && a.get_float("value") != 1.0) {
    t = emit_binary_op(ctx, "mul", number(ctx, a.at("value"), dtype), t);
  }
  bind(ctx, emit_binary_op(ctx, "add", x, t));
}

// Tensor.unfold(dimension, size, step): window i is [i * step, i * step + size) of
// `dimension`, which keeps its place and counts the windows; a new last dim holds each
// window's elements. Every window is a static slice; they are joined along `dimension`.
void lower_unfold(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Attrs& a = ctx.attrs();
  const int64_t rank = static_cast<int64_t>(x->rank());
  const int64_t dim = rank == 0 ? 0 : normalize_axis(a.get_int("dimension"), x->rank());
  const int64_t size = a.get_int("size"), step = a.get_int("step");
  const Value& out = ctx.torch_output();
  if (rank == 0 || step <= 0) throw LowerError("unfold of a 0-d tensor or with step <= 0");
  const int64_t windows = out.shape[dim];
  // Each window's elements go to the end: move `dimension` last once, cut, then move back.
  std::vector<int64_t> to_last;
  for (int64_t d = 0; d < rank; ++d)
    if (d != dim) to_last.push_back(d);
  to_last.push_back(dim);
  Shape moved;
  for (int64_t d : to_last) moved.push_back(x->shape[d]);
  Value* xt = x;
  if (dim != rank - 1) {
    Attrs perm;
    perm.set("perm", to_last);
    xt = ctx.emit("transpose", {x}, std::move(perm), x->dtype, moved);
  }
  std::vector<Value*> pieces;
  for (int64_t i = 0; i < windows; ++i) {
    Value* w = emit_axis_slice(ctx, xt, rank - 1, i * step, i * step + size);
    pieces.push_back(emit_reshape(ctx, w, unsqueezed(w->shape, rank - 1)));
  }
  Value* joined = pieces[0];
  if (pieces.size() > 1) {
    Shape shape = pieces[0]->shape;
    shape[rank - 1] = windows;
    Attrs attrs;
    attrs.set("axis", rank - 1);
    joined = ctx.emit("concat", pieces, std::move(attrs), x->dtype, shape);
  }
  // [others..., windows, size] -> windows back at `dimension`.
  if (dim != rank - 1) {
    std::vector<int64_t> back;
    for (int64_t d = 0; d < dim; ++d) back.push_back(d);
    back.push_back(rank - 1);
    for (int64_t d = dim; d < rank - 1; ++d) back.push_back(d);
    back.push_back(rank);
    Attrs perm;
    perm.set("perm", back);
    joined = ctx.emit("transpose", {joined}, std::move(perm), x->dtype, out.shape);
  }
  ctx.set_output(0, joined);
}

}  // namespace

void register_compose_rules(Registry& registry) {
  registry.add({{"torch.hypot", "torch.Tensor.hypot", "torch.Tensor.hypot_", "aten.hypot.default",
                 "aten.hypot_.default"},
                lower_hypot,
                "sqrt(a*a + b*b)"});
  registry.add({{"torch.lerp", "torch.Tensor.lerp", "torch.Tensor.lerp_", "aten.lerp.Scalar",
                 "aten.lerp.Tensor", "aten.lerp_.Scalar", "aten.lerp_.Tensor"},
                lower_lerp,
                "where(|w| < 0.5, a + w*(b - a), b - (b - a)*(1 - w))"});
  registry.add({{"torch.addcmul", "torch.Tensor.addcmul", "torch.Tensor.addcmul_",
                 "aten.addcmul.default", "aten.addcmul_.default"},
                [](LowerContext& ctx) { lower_addc(ctx, "mul"); },
                "add + mul"});
  registry.add({{"torch.addcdiv", "torch.Tensor.addcdiv", "torch.Tensor.addcdiv_",
                 "aten.addcdiv.default", "aten.addcdiv_.default"},
                [](LowerContext& ctx) { lower_addc(ctx, "div"); },
                "add + div + mul"});
  registry.add({{"torch.Tensor.unfold", "aten.unfold.default", "aten.unfold_copy.default"},
                lower_unfold,
                "slice per window + concat (+ transpose unless the dim is last)"});
}

}  // namespace ferry
