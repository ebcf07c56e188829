// F.embedding_bag (nn.EmbeddingBag): the rows of a table gathered at the indices, reduced per
// bag (sum, mean or max). A 2-D input makes one bag per row; a 1-D input with `offsets` makes
// bag b the positions offsets[b] <= j < offsets[b + 1] (or the end), a membership matrix
// [bags, positions] computed from the offsets, so computed offsets work too. Sums and means
// are a matmul of that matrix (times per_sample_weights) with the gathered rows; max reduces
// the rows where the matrix holds. Empty bags give zeros, as PyTorch's.
#include <limits>

#include "lower/indexing.h"
#include "lower/rules.h"

namespace ferry {
namespace {

Value* reduce_axis(LowerContext& ctx, const std::string& op, Value* v, int64_t axis) {
  Attrs a;
  a.set("axes", std::vector<int64_t>{axis});
  a.set("keepdims", false);
  Shape s = v->shape;
  s.erase(s.begin() + axis);
  return ctx.emit(op, {v}, std::move(a), v->dtype, s);
}

Value* to_type(LowerContext& ctx, Value* v, DType dtype) { return cast_to(ctx, v, dtype); }

// F.embedding_bag names its mode; aten._embedding_bag numbers it (0 sum, 1 mean, 2 max) and
// calls its indices `indices`.
std::string mode_of(const Attrs& a) {
  if (!a.has("mode") || a.is_none("mode")) return "mean";
  if (std::holds_alternative<int64_t>(a.at("mode"))) {
    const int64_t m = a.get_int("mode");
    return m == 0 ? "sum" : m == 1 ? "mean" : m == 2 ? "max" : "mode " + std::to_string(m);
  }
  return a.get_string("mode");
}

void lower_embedding_bag(LowerContext& ctx) {
  Value* input = ctx.in(ctx.has_tensor("indices") ? "indices" : "input");
  Value* weight = ctx.in("weight");
  Value* offsets = ctx.in_opt("offsets");
  Value* psw = ctx.in_opt("per_sample_weights");
  const Attrs& a = ctx.attrs();
  const std::string mode = mode_of(a);
  if (a.has("max_norm") && !a.is_none("max_norm"))
    throw LowerError("embedding_bag with max_norm renormalises the table in place; not supported");
  if (mode != "sum" && mode != "mean" && mode != "max")
    throw LowerError("embedding_bag: unknown mode '" + mode + "'");
  if (psw && mode != "sum")
    throw LowerError("embedding_bag: per_sample_weights is only defined for mode='sum'");
  const bool last_offset = a.has("include_last_offset") && a.get_bool("include_last_offset");
  const DType ft = weight->dtype;
  const int64_t rows = weight->shape[0], width = weight->shape[1];
  Value* index = emit_index(ctx, input, rows, "embedding_bag's input");
  Value* gathered = emit_gather(ctx, weight, index, 0);  // input's shape + [D]
  // Positions that count: not padding_idx.
  Value* valid = nullptr;
  if (a.has("padding_idx") && !a.is_none("padding_idx")) {
    int64_t pad = a.get_int("padding_idx");
    // F.embedding_bag counts a negative index from the end; the aten op, called with it
    // already made positive, uses -1 for "none".
    if (pad < 0 && ctx.has_tensor("indices")) pad = rows;  // matches no index
    if (pad < 0) pad += rows;
    valid = emit_broadcast_op(ctx, "not_equal", index,
                              ctx.scalar(static_cast<double>(pad), DType::kInt32));
  }
  if (input->rank() == 2) {
    // One bag per row: reduce over axis 1 of [B, N, D].
    Shape per(input->shape);
    per.push_back(1);
    Value* weights = psw ? to_type(ctx, psw, ft) : nullptr;
    if (valid) {
      Value* v = to_type(ctx, valid, ft);
      weights = weights ? emit_broadcast_op(ctx, "mul", weights, v) : v;
    }
    Value* y = nullptr;
    if (mode == "max") {
      Value* rows_in = gathered;
      if (valid) {
        rows_in = emit_where(ctx, emit_reshape(ctx, valid, per), gathered,
                             typed_scalar(ctx, -std::numeric_limits<double>::infinity(), ft));
      }
      y = reduce_axis(ctx, "max", rows_in, 1);
      if (valid) {  // a bag of padding only is zeros
        Value* any = reduce_axis(ctx, "max", to_type(ctx, valid, DType::kInt32), 1);
        Shape s{input->shape[0], 1};
        y = emit_where(
            ctx,
            emit_reshape(ctx, emit_broadcast_op(ctx, "greater", any, ctx.scalar(0, DType::kInt32)),
                         s),
            y, typed_scalar(ctx, 0, ft));
      }
    } else {
      Value* terms = weights
                         ? emit_broadcast_op(ctx, "mul", gathered, emit_reshape(ctx, weights, per))
                         : gathered;
      y = reduce_axis(ctx, "sum", terms, 1);
      if (mode == "mean") {
        Value* count = valid ? reduce_axis(ctx, "sum", to_type(ctx, valid, ft), 1)
                             : typed_scalar(ctx, static_cast<double>(input->shape[1]), ft);
        if (valid) {
          count =
              emit_reshape(ctx, emit_broadcast_op(ctx, "maximum", count, typed_scalar(ctx, 1, ft)),
                           {input->shape[0], 1});
        }
        y = emit_broadcast_op(ctx, "div", y, count);
      }
    }
    ctx.set_output(0, y);
    return;
  }
  if (input->rank() != 1 || !offsets)
    throw LowerError("embedding_bag takes a 2-D input, or a 1-D input with offsets");
  const int64_t n = input->shape[0];
  const int64_t count = offsets->shape[0];
  const int64_t bags = last_offset ? count - 1 : count;
  // starts[b] = offsets[b]; ends[b] = offsets[b + 1], the last one n (or offsets[bags]).
  Value* off = cast_to(ctx, offsets, DType::kInt32);
  Value* starts = bags == count ? off : emit_axis_slice(ctx, off, 0, 0, bags);
  Value* ends = nullptr;
  if (last_offset) {
    ends = emit_axis_slice(ctx, off, 0, 1, count);
  } else {
    Value* tail = ctx.constant([&] {
      auto d = std::make_shared<TensorData>(DType::kInt32, Shape{1});
      d->mutable_as<int32_t>()[0] = static_cast<int32_t>(n);
      return d;
    }());
    ends = count > 1 ? ctx.emit("concat", {emit_axis_slice(ctx, off, 0, 1, count), tail},
                                [] {
                                  Attrs c;
                                  c.set("axis", int64_t{0});
                                  return c;
                                }(),
                                DType::kInt32, {bags})
                     : tail;
  }
  Value* positions = iota_constant(ctx, {1, n}, 1, 1);
  Value* member = ctx.emit(
      "logical_and",
      {emit_broadcast_op(ctx, "less_equal", emit_reshape(ctx, starts, {bags, 1}), positions),
       emit_broadcast_op(ctx, "less", positions, emit_reshape(ctx, ends, {bags, 1}))},
      {}, DType::kBool, {bags, n});
  if (valid) {
    member = ctx.emit("logical_and", {member, emit_reshape(ctx, valid, {1, n})}, {}, DType::kBool,
                      {bags, n});
  }
  if (mode == "max") {
    Value* rows_in = emit_where(ctx, emit_reshape(ctx, member, {bags, n, 1}),
                                emit_reshape(ctx, gathered, {1, n, width}),
                                typed_scalar(ctx, -std::numeric_limits<double>::infinity(), ft));
    Value* y = reduce_axis(ctx, "max", rows_in, 1);
    Value* any = reduce_axis(ctx, "max", to_type(ctx, member, DType::kInt32), 1);
    Value* filled = emit_broadcast_op(ctx, "greater", emit_reshape(ctx, any, {bags, 1}),
                                      ctx.scalar(0, DType::kInt32));
    ctx.set_output(0, emit_where(ctx, filled, y, typed_scalar(ctx, 0, ft)));
    return;
  }
  Value* m = to_type(ctx, member, ft);
  Value* mix =
      psw ? emit_broadcast_op(ctx, "mul", m, emit_reshape(ctx, to_type(ctx, psw, ft), {1, n})) : m;
  Value* y = ctx.emit("matmul", {mix, gathered}, {}, ft, {bags, width});
  if (mode == "mean") {
    Value* sizes = reduce_axis(ctx, "sum", m, 1);
    Value* safe = emit_broadcast_op(ctx, "maximum", sizes, typed_scalar(ctx, 1, ft));
    y = emit_broadcast_op(ctx, "div", y, emit_reshape(ctx, safe, {bags, 1}));
  }
  ctx.set_output(0, y);
}

}  // namespace

void register_embedding_bag_rules(Registry& registry) {
  registry.add({{"torch.nn.functional.embedding_bag"},
                lower_embedding_bag,
                "gather + sum/matmul/max (+ div for mean)"});
  // The aten form also returns its bookkeeping (offset2bag, bag sizes, max indices).
  registry.add({{"aten._embedding_bag.default", "aten._embedding_bag_forward_only.default"},
                [](LowerContext& ctx) {
                  lower_embedding_bag(ctx);
                  bind_unread_outputs(ctx, 1, "_embedding_bag", "the bag bookkeeping");
                },
                "gather + sum/matmul/max (+ div for mean)"});
}

}  // namespace ferry
