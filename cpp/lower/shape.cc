// Calls that only rearrange or retype a tensor: reshapes (view, flatten, squeeze, ...),
// permutations and casts. The recorded output shape and dtype are the truth, so the rules
// rarely need the call's own arguments: `x.view(b, -1)` becomes a reshape to the shape the
// trace saw, whatever spelling produced it.
#include <algorithm>
#include <numeric>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// A call that hands back its very input (`x.contiguous()`, `x.float()` on a float tensor) has
// no output of its own in the graph, so there is nothing to lower.
void add_rule(Registry& registry, std::vector<std::string> ops, LowerFn lower, std::string mapping,
              bool free_sizes = false) {
  registry.add({std::move(ops),
                [lower = std::move(lower)](LowerContext& ctx) {
                  if (ctx.num_outputs() > 0) lower(ctx);
                },
                std::move(mapping), free_sizes});
}

// The spellings of one tensor method: Tensor.X and, when it has one, torch.X.
std::vector<std::string> method(const std::string& name, bool torch_function,
                                std::vector<std::string> aten) {
  std::vector<std::string> out = {"torch.Tensor." + name};
  if (torch_function) out.push_back("torch." + name);
  for (std::string& op : aten) out.push_back("aten." + op);
  return out;
}

void lower_reshape(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Value& out = ctx.torch_output();
  if (out.dtype != x->dtype) {
    throw LowerError("viewing a tensor as another dtype (a bitcast) is not supported");
  }
  if (out.shape == x->shape &&
      (out.sym == x->sym || (!has_free_dims(out.sym) && !has_free_dims(x->sym)))) {
    ctx.emit_output("identity", {x});
    return;
  }
  int free = 0;
  for (int32_t s : out.sym) free += s >= 0;
  if (free > 1) {
    ctx.set_output(0, emit_sized_reshape(ctx, x, out.shape, out.sym));
    return;
  }
  Attrs attrs;
  Shape target = out.shape;
  for (size_t d = 0; d < out.sym.size(); ++d)
    if (out.sym[d] >= 0) target[d] = -1;
  attrs.set("shape", target);
  ctx.emit_output("reshape", {x}, std::move(attrs));
}

std::vector<int64_t> iota(size_t rank) {
  std::vector<int64_t> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  return perm;
}

void emit_transpose(LowerContext& ctx, std::vector<int64_t> perm) {
  Value* x = ctx.in(self_arg(ctx));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  if (sorted != iota(x->rank())) {
    throw LowerError("the dims do not form a permutation of the tensor's " +
                     std::to_string(x->rank()) + " dims");
  }
  if (perm == sorted) {
    ctx.emit_output("identity", {x});
    return;
  }
  Attrs attrs;
  attrs.set("perm", std::move(perm));
  ctx.emit_output("transpose", {x}, std::move(attrs));
}

std::vector<int64_t> normalized(const std::vector<int64_t>& dims, size_t rank) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(normalize_axis(d, rank));
  return out;
}

void lower_permute(LowerContext& ctx) {
  const size_t rank = ctx.in(self_arg(ctx))->rank();
  // Tensor.permute(*dims) binds `dims`; torch.permute's builtin signature says `dim`.
  const Attrs& attrs = ctx.attrs();
  emit_transpose(ctx, normalized(attrs.get_ints(attrs.has("dims") ? "dims" : "dim"), rank));
}

// Swaps two dims; the names differ between transpose/swapdims (dim0, dim1) and swapaxes.
void lower_swap(LowerContext& ctx) {
  const Attrs& attrs = ctx.attrs();
  const bool axis_names = attrs.has("axis0");
  const size_t rank = ctx.in(self_arg(ctx))->rank();
  const int64_t a = normalize_axis(attrs.get_int(axis_names ? "axis0" : "dim0"), rank);
  const int64_t b = normalize_axis(attrs.get_int(axis_names ? "axis1" : "dim1"), rank);
  std::vector<int64_t> perm = iota(rank);
  std::swap(perm[a], perm[b]);
  emit_transpose(ctx, std::move(perm));
}

// Tensor.t() swaps the two dims of a matrix and leaves 0-d and 1-d tensors alone.
void lower_t(LowerContext& ctx) {
  const size_t rank = ctx.in(self_arg(ctx))->rank();
  if (rank > 2) throw LowerError("t() expects a tensor with at most 2 dims");
  emit_transpose(ctx, rank == 2 ? std::vector<int64_t>{1, 0} : iota(rank));
}

// Tensor.T reverses every dim.
void lower_reverse_dims(LowerContext& ctx) {
  std::vector<int64_t> perm = iota(ctx.in(self_arg(ctx))->rank());
  std::reverse(perm.begin(), perm.end());
  emit_transpose(ctx, std::move(perm));
}

// Tensor.mT swaps the last two dims (a batch of matrices).
void lower_matrix_transpose(LowerContext& ctx) {
  const size_t rank = ctx.in(self_arg(ctx))->rank();
  if (rank < 2) throw LowerError("mT expects a tensor with at least 2 dims");
  std::vector<int64_t> perm = iota(rank);
  std::swap(perm[rank - 2], perm[rank - 1]);
  emit_transpose(ctx, std::move(perm));
}

// movedim: source dims land at their destinations; the other dims keep their order in the
// remaining places.
void lower_movedim(LowerContext& ctx) {
  const Attrs& attrs = ctx.attrs();
  const size_t rank = ctx.in(self_arg(ctx))->rank();
  const std::vector<int64_t> source = normalized(attrs.get_ints("source"), rank);
  const std::vector<int64_t> destination = normalized(attrs.get_ints("destination"), rank);
  if (source.size() != destination.size()) {
    throw LowerError("movedim needs as many destination dims as source dims");
  }
  std::vector<int64_t> perm(rank, -1);
  std::vector<bool> moved(rank, false);
  for (size_t i = 0; i < source.size(); ++i) {
    if (perm[destination[i]] != -1 || moved[source[i]]) {
      throw LowerError("movedim got a repeated dim");
    }
    perm[destination[i]] = source[i];
    moved[source[i]] = true;
  }
  int64_t next = 0;
  for (int64_t& p : perm) {
    if (p != -1) continue;
    while (moved[next]) ++next;
    p = next++;
  }
  emit_transpose(ctx, std::move(perm));
}

// The target type is the recorded output dtype, whichever argument named it (a dtype, another
// tensor, a method like .half()); `.to(device)` keeps the type and is an identity.
void lower_cast(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Value& out = ctx.torch_output();
  if (out.dtype == x->dtype) {
    ctx.emit_output("identity", {x});
    return;
  }
  Attrs attrs;
  attrs.set("dtype", std::string(dtype_name(out.dtype)));
  ctx.emit_output("cast", {x}, std::move(attrs));
}

// expand -> broadcast_to the recorded shape (new leading dims first come as unit dims, so the
// layout stage sees operand and result at the same rank); the same shape is a no-op.
void lower_expand(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  const Value& result = ctx.torch_output();
  if (has_free_dims(result.sym)) {
    // Free sizes: a broadcasting multiply by ones of the run-time shape (FILL), exact for
    // every value (x * 1 keeps -0, inf and NaN); broadcast_to's target would be fixed. Bools
    // (attention masks) go through int32 and back.
    Value* v = cast_to(ctx, x, x->dtype == DType::kBool ? DType::kInt32 : x->dtype);
    Value* ones = emit_fill(ctx, typed_scalar(ctx, 1.0, v->dtype), result.shape, result.sym);
    Value* y = ctx.emit("mul", {v, ones}, {}, v->dtype, result.shape, result.sym);
    ctx.set_output(0, cast_to(ctx, y, x->dtype));
    return;
  }
  const Shape& out = result.shape;
  Value* y = emit_broadcast_to(ctx, x, out);
  ctx.set_output(0, y == x ? ctx.emit("identity", {x}, {}, x->dtype, x->shape) : y);
}

// repeat -> each repeated dim gets a unit dim in front, broadcast to the repeat count, and the
// pair is merged back: x[s0, s1].repeat(r0, r1) =
// reshape(broadcast_to(reshape(x, [1, s0, 1, s1]), [r0, s0, r1, s1]), [r0*s0, r1*s1]).
// The counts are read off the recorded result (out / in per dim); dims repeated once stay.
// Free sizes: the same three steps with the sizes carried along; the broadcast is a multiply by
// ones of the run-time shape (as expand) and the merged sizes are computed at run time.
void lower_free_repeat(LowerContext& ctx, Value* x) {
  if (!ctx.node().sym_args.empty()) {
    throw LowerError("repeat counts that follow a free size are not supported yet");
  }
  const DType dtype = x->dtype;
  if (dtype == DType::kBool) x = cast_to(ctx, x, DType::kInt32);  // multiplied below, as int32
  const Value& result = ctx.torch_output();
  const size_t lead = result.rank() - x->rank();
  Shape in(lead, 1), split, broadcast;
  SymDims in_sym(lead, -1), split_sym, broadcast_sym;
  in.insert(in.end(), x->shape.begin(), x->shape.end());
  if (x->sym.empty()) {
    in_sym.resize(in.size(), -1);
  } else {
    in_sym.insert(in_sym.end(), x->sym.begin(), x->sym.end());
  }
  for (size_t d = 0; d < result.rank(); ++d) {
    const int64_t reps = in[d] == 0 ? 1 : result.shape[d] / in[d];
    if (reps != 1) {
      split.push_back(1);
      split_sym.push_back(-1);
      broadcast.push_back(reps);
      broadcast_sym.push_back(-1);
    }
    split.push_back(in[d]);
    split_sym.push_back(in_sym[d]);
    broadcast.push_back(in[d]);
    broadcast_sym.push_back(in_sym[d]);
  }
  Value* y = emit_sized_reshape(ctx, x, split, split_sym);
  if (split.size() != result.rank()) {
    Value* ones = emit_fill(ctx, typed_scalar(ctx, 1.0, x->dtype), broadcast, broadcast_sym);
    y = ctx.emit("mul", {y, ones}, {}, x->dtype, broadcast, broadcast_sym);
  }
  y = cast_to(ctx, emit_sized_reshape(ctx, y, result.shape, result.sym), dtype);
  ctx.set_output(0, y == x ? ctx.emit("identity", {x}, {}, x->dtype, x->shape, x->sym) : y);
}

void lower_repeat(LowerContext& ctx) {
  Value* x = ctx.in(self_arg(ctx));
  if (has_free_dims(x->sym) || has_free_dims(ctx.torch_output().sym)) {
    lower_free_repeat(ctx, x);
    return;
  }
  const Shape& out = ctx.torch_output().shape;
  Shape in(out.size() - x->rank(), 1);
  in.insert(in.end(), x->shape.begin(), x->shape.end());
  Shape split, broadcast;
  for (size_t d = 0; d < out.size(); ++d) {
    const int64_t reps = in[d] == 0 ? 1 : out[d] / in[d];
    if (reps != 1) {
      split.push_back(1);
      broadcast.push_back(reps);
    }
    split.push_back(in[d]);
    broadcast.push_back(in[d]);
  }
  if (split.size() == out.size()) {  // nothing repeated: at most new leading unit dims
    Attrs r;
    r.set("shape", out);
    ctx.emit_output(out == x->shape ? "identity" : "reshape", {x}, out == x->shape ? Attrs{} : r);
    return;
  }
  Attrs r1, b, r2;
  r1.set("shape", split);
  b.set("shape", broadcast);
  r2.set("shape", out);
  Value* y = ctx.emit("reshape", {x}, r1, x->dtype, split);
  y = ctx.emit("broadcast_to", {y}, b, x->dtype, broadcast);
  ctx.emit_output("reshape", {y}, r2);
}

}  // namespace

void register_shape_rules(Registry& registry) {
  add_rule(registry,
           method("view", false, {"view.default", "_unsafe_view.default"}) +
               method("reshape", true, {"reshape.default"}) + method("view_as", false, {}) +
               method("reshape_as", false, {}) + method("flatten", true, {"flatten.using_ints"}) +
               method("unflatten", true, {"unflatten.int"}) + method("ravel", true, {}) +
               method("squeeze", true,
                      {"squeeze.default", "squeeze.dim", "squeeze.dims", "squeeze_.default",
                       "squeeze_.dim", "squeeze_.dims"}) +
               method("squeeze_", false, {}) +
               method("unsqueeze", true, {"unsqueeze.default", "unsqueeze_.default"}) +
               method("unsqueeze_", false, {}) +
               method("contiguous", false, {"contiguous.default"}) +
               method("clone", true, {"clone.default"}) +
               method("detach", true, {"detach.default", "alias.default"}),
           lower_reshape, "reshape (identity when the shape is unchanged)", /*free_sizes=*/true);

  add_rule(registry, method("permute", true, {"permute.default"}), lower_permute, "transpose",
           /*free_sizes=*/true);
  add_rule(registry,
           method("transpose", true, {"transpose.int", "transpose_.default"}) +
               method("transpose_", false, {}) + method("swapaxes", true, {}) +
               method("swapdims", true, {}),
           lower_swap, "transpose", /*free_sizes=*/true);
  add_rule(registry, method("t", true, {"t.default"}) + method("t_", false, {}), lower_t,
           "transpose");
  add_rule(registry, {"torch.Tensor.T", "torch.Tensor.T.__get__"}, lower_reverse_dims, "transpose");
  add_rule(registry, {"torch.Tensor.mT", "torch.Tensor.mT.__get__"}, lower_matrix_transpose,
           "transpose");
  add_rule(
      registry,
      method("movedim", true, {"movedim.int", "movedim.intlist"}) + method("moveaxis", true, {}),
      lower_movedim, "transpose");

  add_rule(registry,
           {"torch.Tensor.to", "torch.Tensor.type", "torch.Tensor.type_as", "torch.Tensor.float",
            "torch.Tensor.double", "torch.Tensor.half", "torch.Tensor.bfloat16", "torch.Tensor.int",
            "torch.Tensor.long", "torch.Tensor.short", "torch.Tensor.char", "torch.Tensor.byte",
            "torch.Tensor.bool", "torch.Tensor.cpu", "aten._to_copy.default", "aten.to.dtype",
            "aten.to.dtype_layout", "aten.to.device", "aten.to.other"},
           lower_cast, "cast (identity when the dtype is unchanged)", /*free_sizes=*/true);

  add_rule(registry, method("expand", false, {"expand.default"}) + method("expand_as", false, {}),
           lower_expand, "broadcast_to (identity for the same shape); at free sizes mul by fill",
           /*free_sizes=*/true);
  add_rule(registry, method("repeat", false, {"repeat.default"}), lower_repeat,
           "reshape + broadcast_to + reshape (at free sizes a mul by fill)", /*free_sizes=*/true);
}

}  // namespace ferry
