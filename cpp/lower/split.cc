// Cutting a tensor into pieces along one dim (split, chunk, unbind) and joining tensors along a
// new dim (stack). Pieces are static slices and stacking is unsqueeze + concat, so both back
// ends write them with ops they already have (strided slices, never gathers), and the layout
// stage moves the axis of a channels-last tensor without a transpose.
#include <variant>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// torch.split and Tensor.split bind their tensor as `tensor`.
Value* main_input(LowerContext& ctx) {
  return ctx.in(ctx.has_tensor("tensor") ? "tensor" : self_arg(ctx));
}

int64_t dim_attr(const LowerContext& ctx, size_t rank) {
  const Attrs& attrs = ctx.attrs();
  return normalize_axis(attrs.has("dim") && !attrs.is_none("dim") ? attrs.get_int("dim") : 0, rank);
}

// A size argument is either one int (pieces of that size) or a list of sizes.
std::vector<int64_t> sizes_arg(const Attrs& attrs, const std::string& name, int64_t size) {
  if (std::holds_alternative<int64_t>(attrs.at(name))) {
    return split_sizes(size, attrs.get_int(name));
  }
  return attrs.get_ints(name);
}

// The sizes of the pieces along `dim`, from the call's own arguments.
std::vector<int64_t> piece_sizes(const LowerContext& ctx, int64_t size) {
  const Attrs& attrs = ctx.attrs();
  for (const char* name : {"split_size_or_sections", "split_sizes", "split_size"}) {
    if (attrs.has(name)) return sizes_arg(attrs, name, size);
  }
  if (attrs.has("chunks")) return chunk_sizes(size, attrs.get_int("chunks"));
  throw LowerError("the call names neither split sizes nor a number of chunks");
}

// Binds output i to piece [begin, end) of `dim`; unbind's pieces also drop the dim.
void bind_piece(LowerContext& ctx, Value* x, int64_t dim, int64_t begin, int64_t end, bool drop_dim,
                size_t i) {
  Value* y = emit_axis_slice(ctx, x, dim, begin, end);
  Shape expected = y->shape;
  if (drop_dim) expected.erase(expected.begin() + dim);
  if (expected != ctx.torch_output(i).shape) {
    throw LowerError("piece " + std::to_string(i) + " does not have the recorded shape");
  }
  if (drop_dim) {
    y = emit_sized_reshape(ctx, y, expected, ctx.torch_output(i).sym);
  } else if (y == x) {
    y = ctx.emit("identity", {x}, {}, x->dtype, x->shape, x->sym);
  }
  ctx.set_output(i, y);
}

void emit_pieces(LowerContext& ctx, Value* x, int64_t dim, const std::vector<int64_t>& sizes,
                 bool drop_dim) {
  const std::vector<int64_t> offsets = piece_offsets(sizes, x->shape[dim]);
  if (sizes.size() != ctx.num_outputs()) {
    throw LowerError("the call returned " + std::to_string(ctx.num_outputs()) +
                     " tensors where its arguments make " + std::to_string(sizes.size()));
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    bind_piece(ctx, x, dim, offsets[i], offsets[i] + sizes[i], drop_dim, i);
  }
}

void lower_split(LowerContext& ctx) {
  Value* x = main_input(ctx);
  const int64_t dim = dim_attr(ctx, x->rank());
  emit_pieces(ctx, x, dim, piece_sizes(ctx, x->shape[dim]), false);
}

void lower_unbind(LowerContext& ctx) {
  Value* x = main_input(ctx);
  const int64_t dim = dim_attr(ctx, x->rank());
  emit_pieces(ctx, x, dim, std::vector<int64_t>(x->shape[dim], 1), true);
}

// stack promotes its operands to one type, as cat does.
void lower_stack(LowerContext& ctx) {
  const Value& out = ctx.torch_output();
  const std::vector<Value*> tensors = ctx.ins("tensors");
  if (tensors.empty()) throw LowerError("stack needs at least one tensor");
  const int64_t dim = dim_attr(ctx, out.rank());
  std::vector<Value*> parts;
  for (Value* t : tensors) {
    if (t->rank() + 1 != out.rank()) {
      throw LowerError("stack expects tensors of rank " + std::to_string(out.rank() - 1));
    }
    Value* c = cast_to(ctx, t, out.dtype);
    SymDims sym = c->sym;
    if (!sym.empty()) sym.insert(sym.begin() + dim, -1);
    parts.push_back(emit_sized_reshape(ctx, c, unsqueezed(c->shape, dim), sym));
  }
  if (parts.size() == 1) {
    ctx.set_output(0, parts[0]);
    return;
  }
  Attrs attrs;
  attrs.set("axis", dim);
  ctx.emit_output("concat", std::move(parts), std::move(attrs));
}

}  // namespace

void register_split_rules(Registry& registry) {
  registry.add({{"torch.split", "torch.Tensor.split", "torch.split_with_sizes",
                 "torch.Tensor.split_with_sizes", "aten.split.Tensor", "aten.split.sizes",
                 "aten.split_with_sizes.default", "aten.split_copy.Tensor",
                 "aten.split_with_sizes_copy.default", "aten.unsafe_split.Tensor",
                 "aten.unsafe_split_with_sizes.default", "aten.unsafe_chunk.default", "torch.chunk",
                 "torch.Tensor.chunk", "aten.chunk.default"},
                lower_split,
                "slice per piece",
                /*free_sizes=*/true});
  registry.add({{"torch.unbind", "torch.Tensor.unbind", "aten.unbind.int", "aten.unbind_copy.int"},
                lower_unbind,
                "slice + reshape per piece",
                /*free_sizes=*/true});
  registry.add({{"torch.stack", "aten.stack.default"},
                lower_stack,
                "reshape + concat",
                /*free_sizes=*/true});
}

}  // namespace ferry
