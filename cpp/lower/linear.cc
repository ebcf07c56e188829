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
  const Value& result = ctx.torch_output();
  const bool free = has_free_dims(a->sym) || has_free_dims(b->sym) || has_free_dims(result.sym);
  if (free && (a->rank() == 1 || b->rank() == 1)) {
    throw LowerError("matmul of a vector at free sizes is not supported yet");
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
  if (free && shape != result.shape) throw LowerError("internal: matmul at free sizes");
  // Free sizes: batch dims broadcast and the rows and columns are the operands'; the
  // recorded result says which are free.
  Value* y = ctx.emit("matmul", {a, b}, std::move(attrs), result.dtype, shape,
                      free ? result.sym : SymDims{});
  const Shape& want = result.shape;
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
    kernel->origin = w->origin;  // PyTorch's weight: an imported quantized model's scales
    Value* b = bias ? ctx.constant(bias->constant, Layout::kFixed) : nullptr;
    ctx.emit_output("dense", {x, kernel, b});
    return;
  }
  // A weight computed at run time (tied or generated weights): x @ w^T (+ b).
  Value* y = emit_torch_matmul(ctx, x, w, true);
  if (bias) y = ctx.emit("add", {y, bias}, {}, y->dtype, y->shape, broadcast_sym(*y, *bias));
  ctx.set_output(0, y);
}

// The float `name` argument, `fallback` when absent or None.
double float_attr(const Attrs& attrs, const std::string& name, double fallback) {
  return attrs.is_none(name) ? fallback : attrs.get_float(name);
}

// A float32 copy of a constant multiplied by `factor` (the data itself when factor is 1), so a
// scale folds into a Dense kernel or bias; nullptr for other dtypes, which keep a `mul` op.
std::shared_ptr<const TensorData> scaled_constant(const std::shared_ptr<const TensorData>& data,
                                                  double factor) {
  if (factor == 1.0) return data;
  if (data->dtype() != DType::kFloat32) return nullptr;
  auto out = std::make_shared<TensorData>(DType::kFloat32, data->shape());
  const float* src = data->as<float>();
  float* dst = out->mutable_as<float>();
  for (int64_t i = 0; i < data->size(); ++i) dst[i] = static_cast<float>(src[i] * factor);
  return out;
}

// v * factor, or v itself when factor is 1.
Value* scale(LowerContext& ctx, Value* v, double factor) {
  if (factor == 1.0) return v;
  return ctx.emit("mul", {v, typed_scalar(ctx, factor, v->dtype)}, {}, v->dtype, v->shape, v->sym);
}

// The bias of a Dense layer for `beta * input` when input is a constant of the output's last
// size (shape [N] or [1, N]); nullptr when it cannot be one.
std::shared_ptr<const TensorData> dense_bias(Value* input, int64_t n, double beta) {
  if (!input->is_constant() || input->rank() == 0 || input->shape.back() != n) return nullptr;
  if (num_elements(input->shape) != n) return nullptr;
  auto scaled = scaled_constant(input->constant, beta);
  return scaled ? scaled->reshaped({n}) : nullptr;
}

// addmm / baddbmm: beta * input + alpha * (m1 @ m2). As in PyTorch, beta = 0 ignores input
// (NaN and inf in it included). A constant 2-D m2 (GPT-2's Conv1D) becomes a Dense layer with
// alpha folded into its kernel and, when input is a row of constants, beta * input as its bias.
void lower_addmm(LowerContext& ctx, const std::string& m1_arg, const std::string& m2_arg) {
  Value* input = ctx.in(self_arg(ctx));
  Value* m1 = ctx.in(m1_arg);
  Value* m2 = ctx.in(m2_arg);
  const Attrs& attrs = ctx.attrs();
  const double beta = float_attr(attrs, "beta", 1.0);
  const double alpha = float_attr(attrs, "alpha", 1.0);
  const size_t rank = m1_arg == "mat1" ? 2 : 3;
  if (m1->rank() != rank || m2->rank() != rank) {
    throw LowerError(ctx.node().op + " expects " + std::to_string(rank) + "-D matrices, got " +
                     std::to_string(m1->rank()) + "-D and " + std::to_string(m2->rank()) + "-D");
  }
  const Shape& out_shape = ctx.torch_output().shape;
  const DType dtype = ctx.torch_output().dtype;
  Value* product = nullptr;
  std::shared_ptr<const TensorData> kernel =
      rank == 2 && m2->is_constant() ? scaled_constant(m2->constant, alpha) : nullptr;
  if (kernel) {
    std::shared_ptr<const TensorData> bias =
        beta == 0.0 ? nullptr : dense_bias(input, m2->shape[1], beta);
    Value* b = bias ? ctx.constant(bias, Layout::kFixed) : nullptr;
    // Free sizes: the rows may be free (a batch times a length), the columns are the kernel's.
    SymDims rows;
    if (has_free_dims(m1->sym)) rows = {m1->sym[0], -1};
    product = ctx.emit("dense", {m1, ctx.constant(kernel, Layout::kFixed), b}, {}, dtype,
                       {m1->shape[0], m2->shape[1]}, rows);
    if (bias) {
      ctx.set_output(0, product);
      return;
    }
  } else {
    product = scale(ctx, emit_torch_matmul(ctx, m1, m2, false), alpha);
  }
  if (beta == 0.0) {
    ctx.set_output(0, product);
    return;
  }
  ctx.set_output(0, ctx.emit("add", {product, scale(ctx, input, beta)}, {}, dtype, out_shape,
                             ctx.torch_output().sym));
}

}  // namespace

void register_linear_rules(Registry& registry) {
  // Free sizes: the Dense form works at any batch, a matmul (computed weights) carries them.
  registry.add({function_aliases("linear", true, false, false), lower_linear,
                "dense (matmul + add for a computed weight)", /*free_sizes=*/true});
  registry.add({{"torch.matmul", "torch.Tensor.matmul", "torch.Tensor.__matmul__",
                 "aten.matmul.default", "torch.mm", "torch.Tensor.mm", "aten.mm.default",
                 "torch.bmm", "torch.Tensor.bmm", "aten.bmm.default"},
                lower_matmul,
                "matmul (+ reshape for 1-D operands)",
                /*free_sizes=*/true});
  registry.add({{"torch.Tensor.__rmatmul__"}, lower_rmatmul, "matmul"});
  registry.add({{"torch.addmm", "torch.Tensor.addmm", "aten.addmm.default"},
                [](LowerContext& ctx) { lower_addmm(ctx, "mat1", "mat2"); },
                "dense for a constant mat2 (else matmul + mul + add)",
                /*free_sizes=*/true});
  registry.add({{"torch.baddbmm", "torch.Tensor.baddbmm", "aten.baddbmm.default"},
                [](LowerContext& ctx) { lower_addmm(ctx, "batch1", "batch2"); },
                "matmul + mul + add",
                /*free_sizes=*/true});
}

}  // namespace ferry
