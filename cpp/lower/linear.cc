// Linear layers and matrix products. A constant-weight F.linear becomes a Keras Dense layer;
// every other product is a `matmul`, with 1-D operands made 2-D first because TF's matmul,
// unlike torch.matmul, has no vector cases.
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// A constant is reshaped at conversion time; a computed value gets a `reshape` op.
Value* reshape_operand(LowerContext& ctx, Value* v, Shape shape) {
  if (v->is_constant()) return ctx.constant(v->constant->reshaped(std::move(shape)));
  return emit_reshape(ctx, v, std::move(shape));
}

// torch.matmul(a, b) (or a @ b.mT when transpose_b), in the shape of PyTorch output 0.
Value* emit_torch_matmul(LowerContext& ctx, Value* a, Value* b, bool transpose_b) {
  if (a->rank() == 0 || b->rank() == 0) {
    throw LowerError("matmul needs operands of at least one dimension");
  }
  if (a->rank() == 1) a = reshape_operand(ctx, a, {1, a->shape[0]});
  if (b->rank() == 1) {
    b = reshape_operand(ctx, b, transpose_b ? Shape{1, b->shape[0]} : Shape{b->shape[0], 1});
  }
  const Shape a_batch(a->shape.begin(), a->shape.end() - 2);
  const Shape b_batch(b->shape.begin(), b->shape.end() - 2);
  const int64_t k_a = a->shape.back();
  const int64_t k_b = transpose_b ? b->shape.back() : b->shape[b->rank() - 2];
  if (k_a != k_b) {
    throw LowerError("matmul: inner dimensions differ (" + std::to_string(k_a) + " and " +
                     std::to_string(k_b) + ")");
  }
  Shape shape = broadcast_shapes(a_batch, b_batch);
  shape.push_back(a->shape[a->rank() - 2]);
  shape.push_back(transpose_b ? b->shape[b->rank() - 2] : b->shape.back());
  Attrs attrs;
  attrs.set("transpose_a", false);
  attrs.set("transpose_b", transpose_b);
  Value* y = ctx.emit("matmul", {a, b}, std::move(attrs), ctx.torch_output().dtype, shape);
  const Shape& want = ctx.torch_output().shape;
  if (shape == want) return y;
  if (num_elements(shape) != num_elements(want)) {
    throw LowerError("internal: matmul result does not match PyTorch's shape");
  }
  return emit_reshape(ctx, y, want);
}

void lower_matmul(LowerContext& ctx) {
  Value* other = ctx.in_opt("other");
  ctx.set_output(0, emit_torch_matmul(ctx, ctx.in("input"), other ? other : ctx.in("mat2"), false));
}

void lower_rmatmul(LowerContext& ctx) {
  // `a.__rmatmul__(b)` is `b @ a`.
  ctx.set_output(0, emit_torch_matmul(ctx, ctx.in("other"), ctx.in("input"), false));
}

void lower_linear(LowerContext& ctx) {
  Value* x = ctx.in("input");
  Value* w = ctx.in("weight");
  Value* bias = ctx.in_opt("bias");
  if (w->rank() != 2) {
    throw LowerError("linear expects a 2-D weight, got " + std::to_string(w->rank()) + "-D");
  }
  if (w->is_constant() && (!bias || bias->is_constant())) {
    // PyTorch stores [out, in]; Dense's kernel is [in, out].
    Value* kernel = ctx.constant(w->constant->permuted({1, 0}), Layout::kFixed);
    Value* b = bias ? ctx.constant(bias->constant, Layout::kFixed) : nullptr;
    ctx.emit_output("dense", {x, kernel, b});
    return;
  }
  // A weight computed at run time (tied or generated weights): x @ w^T (+ b).
  Value* y = emit_torch_matmul(ctx, x, w, true);
  if (bias) y = ctx.emit("add", {y, bias}, {}, y->dtype, y->shape);
  ctx.set_output(0, y);
}

}  // namespace

void register_linear_rules(Registry& registry) {
  registry.add({function_aliases("linear", true, false, false), lower_linear,
                "dense (matmul + add for a computed weight)"});
  registry.add({{"torch.matmul", "torch.Tensor.matmul", "torch.Tensor.__matmul__",
                 "aten.matmul.default", "torch.mm", "torch.Tensor.mm", "aten.mm.default",
                 "torch.bmm", "torch.Tensor.bmm", "aten.bmm.default"},
                lower_matmul,
                "matmul (+ reshape for 1-D operands)"});
  registry.add({{"torch.Tensor.__rmatmul__"}, lower_rmatmul, "matmul"});
}

}  // namespace ferry
