// slice_update (docs/tf_ops.md -> TFLite builtins): x with a static strided region replaced.
//
// No builtin writes a strided region, and the one for a contiguous one (DYNAMIC_UPDATE_SLICE)
// is not run by XNNPACK, so the region is rebuilt from pieces XNNPACK runs: unit-stride
// STRIDED_SLICEs of x, RESHAPE and CONCATENATION. Along the outermost partly written axis,
// x splits into the part before the region, the region's span and the part after it. A span
// with step s > 1 is viewed as [outer, groups, s, inner]: column 0 of the step axis holds the
// written positions, columns 1..s-1 are kept. The written positions (or the stride-1 span)
// are rebuilt the same way along the next partly written axis, until the update covers them.
// When the last written position has fewer than s - 1 positions after it (a stop that is not
// a multiple of the step away), it is a piece of its own, so no padding is needed. Every view
// has at most 4 dimensions; rank 6 has no STRIDED_SLICE at all (emit_slice_update_rank6).
#include <algorithm>
#include <functional>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

struct Span {
  int64_t begin, count, step;  // written positions: begin + i * step for i < count
};

bool covers(const Span& s, int64_t size) { return s.begin == 0 && s.count == size; }

size_t first_partial(const std::vector<Span>& region, const Shape& shape) {
  size_t d = 0;
  while (d < shape.size() && covers(region[d], shape[d])) ++d;
  return d;
}

}  // namespace

void Writer::emit_slice_update(const Node* n) {
  const Value *x = n->inputs[0], *u = n->inputs[1], *out = n->outputs[0];
  if (x->dtype != u->dtype || !(x->dtype == DType::kFloat32 || x->dtype == DType::kInt32 ||
                                x->dtype == DType::kInt64 || x->dtype == DType::kBool))
    fail(n, "slice_update takes float32, int32, int64 or bool tensors of one type");
  const auto begin = n->attrs.get_ints("begin"), end = n->attrs.get_ints("end"),
             strides = n->attrs.get_ints("strides");
  const Shape xs = x->physical_shape(), us = u->physical_shape();
  const size_t rank = xs.size();
  if (begin.size() != rank || end.size() != rank || strides.size() != rank || us.size() != rank)
    fail(n, "begin, end, strides and the update must cover every axis");
  std::vector<Span> region(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (strides[d] <= 0 || begin[d] < 0 ||
        us[d] != std::max<int64_t>(0, (end[d] - begin[d] + strides[d] - 1) / strides[d]) ||
        (us[d] > 0 && begin[d] + (us[d] - 1) * strides[d] >= xs[d]))
      fail(n, "the update's shape does not match the region");
    // One written position needs no step.
    region[d] = {begin[d], us[d], us[d] == 1 ? 1 : strides[d]};
  }
  const std::string& s = n->scope;
  const int in = tensor(x), dst = tensor(out);
  auto copy = [&](int from, const Shape& shape, int to) {
    m_.add_op(
        fb::BuiltinOperator_RESHAPE, 1,
        {from, m_.add_int32(to_i32(shape), {static_cast<int64_t>(shape.size())}, s + "/shape")},
        {to});
  };
  if (std::find(us.begin(), us.end(), 0) != us.end()) return copy(in, xs, dst);  // no write
  if (rank > 5) return emit_slice_update_rank6(n, in, dst);

  int pieces = 0;  // numbers the intermediate tensors
  auto fresh = [&](const Shape& shape) {
    return temp(x, shape, "_region" + std::to_string(pieces++));
  };
  auto vec = [&](const Shape& v, const char* what) {
    return m_.add_int32(to_i32(v), {static_cast<int64_t>(v.size())}, s + "/" + what);
  };
  // [lo, hi) of `axis`, unit stride (XNNPACK runs STRIDED_SLICE only at stride 1).
  auto slice = [&](int from, const Shape& shape, size_t axis, int64_t lo, int64_t hi) {
    if (lo == 0 && hi == shape[axis]) return from;
    Shape b(shape.size(), 0), e = shape, piece = shape;
    b[axis] = lo;
    e[axis] = hi;
    piece[axis] = hi - lo;
    const int to = fresh(piece);
    add_op(fb::BuiltinOperator_STRIDED_SLICE,
           {from, vec(b, "begin"), vec(e, "end"), vec(Shape(shape.size(), 1), "strides")}, {to},
           fb::BuiltinOptions_StridedSliceOptions, fb::CreateStridedSliceOptions(m_.fbb()).Union());
    return to;
  };
  auto reshape = [&](int from, const Shape& to_shape, int to = -1) {
    if (to < 0) to = fresh(to_shape);
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {from, vec(to_shape, "shape")}, {to});
    return to;
  };
  auto concat = [&](const std::vector<int32_t>& parts, size_t axis, const Shape& shape, int to) {
    if (to < 0) to = fresh(shape);
    add_op(fb::BuiltinOperator_CONCATENATION, parts, {to}, fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(m_.fbb(), static_cast<int32_t>(axis)).Union());
    return to;
  };

  // `base` (shape `bs`) with `region` replaced by `update` (shape: the region's counts), into
  // `to` (or a new tensor when -1); returns the tensor holding the result.
  std::function<int(int, const Shape&, int, const std::vector<Span>&, int)> write;
  write = [&](int base, const Shape& bs, int update, const std::vector<Span>& r, int to) -> int {
    const size_t d = first_partial(r, bs);
    Shape ws(rank);  // the update's shape
    for (size_t a = 0; a < rank; ++a) ws[a] = r[a].count;
    if (d == rank) {  // the update covers the base
      if (to >= 0) copy(update, ws, to);
      return to >= 0 ? to : update;
    }
    const int64_t size = bs[d], first = r[d].begin, count = r[d].count, step = r[d].step;
    // The part of the region along axes after d, written into `sub` (shape `ss`, `k`
    // positions along d) with the update's positions [from, from + k) along d.
    auto inner = [&](int sub, const Shape& ss, int64_t from, int64_t k) {
      std::vector<Span> rs = r;
      rs[d] = {0, k, 1};
      int part = update;
      if (k != count) {
        part = slice(update, ws, d, from, from + k);
      }
      return write(sub, ss, part, rs, -1);
    };
    auto rest_covered = [&](int64_t k) {
      std::vector<Span> rs = r;
      rs[d] = {0, k, 1};
      Shape ss = bs;
      ss[d] = k;
      return first_partial(rs, ss) == rank;
    };
    std::vector<int32_t> parts;
    if (first > 0) parts.push_back(slice(base, bs, d, 0, first));
    int64_t after;  // where the part after the region starts
    if (step == 1) {
      Shape ms = bs;
      ms[d] = count;
      const int mid = rest_covered(count) ? -1 : slice(base, bs, d, first, first + count);
      parts.push_back(inner(mid, ms, 0, count));
      after = first + count;
    } else {
      // Whole groups of `step` positions that fit in the axis; the last written position
      // stands alone when fewer than step - 1 positions follow it.
      const int64_t groups = first + count * step <= size ? count : count - 1;
      int64_t outer = 1, in_size = 1;
      for (size_t a = 0; a < d; ++a) outer *= bs[a];
      for (size_t a = d + 1; a < rank; ++a) in_size *= bs[a];
      if (groups > 0) {
        Shape gs = bs;
        gs[d] = groups * step;
        const Shape g4 = {outer, groups, step, in_size}, c4 = {outer, groups, 1, in_size};
        Shape cs = bs;
        cs[d] = groups;
        const int span = slice(base, bs, d, first, first + groups * step);
        const int span4 = reshape(span, g4);
        int written;
        if (rest_covered(groups)) {
          written = inner(-1, cs, 0, groups);
        } else {
          const int column = reshape(slice(span4, g4, 2, 0, 1), cs);
          written = inner(column, cs, 0, groups);
        }
        const int written4 = reshape(written, c4), kept = slice(span4, g4, 2, 1, step);
        const int joined = concat({written4, kept}, 2, g4, -1);
        // The interleaved groups may be the whole result: then they go straight to `to`.
        const bool whole = first == 0 && groups == count && groups * step == size;
        parts.push_back(reshape(joined, gs, whole ? to : -1));
      }
      after = first + groups * step;
      if (groups < count) {
        Shape ls = bs;
        ls[d] = 1;
        const int last = rest_covered(1) ? -1 : slice(base, bs, d, after, after + 1);
        parts.push_back(inner(last, ls, count - 1, 1));
        after += 1;
      }
    }
    if (after < size) parts.push_back(slice(base, bs, d, after, size));
    if (parts.size() == 1) return parts[0];  // the groups, reshaped into `to` already
    return concat(parts, d, bs, to);
  };
  write(in, xs, tensor(u), region, dst);
}

// Rank 6 (no STRIDED_SLICE): a contiguous region is a DYNAMIC_UPDATE_SLICE at constant start
// indices. A strided one is spread to x's extent along each partly written axis by GATHER (each
// position takes the update element at or before it), then SELECT_V2 keeps it only at the
// written positions, under a constant mask that broadcasts over the fully written axes.
void Writer::emit_slice_update_rank6(const Node* n, int in, int dst) {
  const Value *x = n->inputs[0], *u = n->inputs[1];
  const auto begin = n->attrs.get_ints("begin"), end = n->attrs.get_ints("end"),
             strides = n->attrs.get_ints("strides");
  const Shape xs = x->physical_shape(), us = u->physical_shape();
  const size_t rank = xs.size();
  const std::string& s = n->scope;
  if (std::all_of(strides.begin(), strides.end(), [](int64_t v) { return v == 1; })) {
    int start = m_.add_int32(to_i32(begin), {static_cast<int64_t>(rank)}, s + "/start");
    add_op(fb::BuiltinOperator_DYNAMIC_UPDATE_SLICE, {in, tensor(u), start}, {dst});
    return;
  }
  int spread = tensor(u);
  Shape spread_shape = us, mask_shape(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    if (us[d] == xs[d]) continue;  // the whole axis is written
    mask_shape[d] = xs[d];
    std::vector<int32_t> index(xs[d]);
    for (int64_t j = 0; j < xs[d]; ++j)
      index[j] = static_cast<int32_t>(
          std::clamp<int64_t>(j < begin[d] ? 0 : (j - begin[d]) / strides[d], 0, us[d] - 1));
    spread_shape[d] = xs[d];
    const std::string axis = std::to_string(d);
    int next = temp(x, spread_shape, "_spread" + axis);
    add_op(fb::BuiltinOperator_GATHER, {spread, m_.add_int32(index, {xs[d]}, s + "/index" + axis)},
           {next}, fb::BuiltinOptions_GatherOptions,
           fb::CreateGatherOptions(m_.fbb(), static_cast<int32_t>(d)).Union());
    spread = next;
  }
  int64_t count = 1;
  for (int64_t v : mask_shape) count *= v;
  std::vector<uint8_t> mask(count);
  std::vector<int64_t> at(rank, 0);  // multi-index into mask_shape, last axis fastest
  for (int64_t i = 0; i < count; ++i) {
    bool written = true;
    for (size_t d = 0; d < rank && written; ++d) {
      if (mask_shape[d] == 1) continue;
      const int64_t j = at[d];
      written = j >= begin[d] && j < end[d] && (j - begin[d]) % strides[d] == 0;
    }
    mask[i] = written ? 1 : 0;
    for (size_t d = rank; d-- > 0;) {
      if (++at[d] < mask_shape[d]) break;
      at[d] = 0;
    }
  }
  int written =
      m_.add_constant(fb::TensorType_BOOL, mask_shape, mask.data(), mask.size(), s + "/written");
  add_op(fb::BuiltinOperator_SELECT_V2, {written, spread, in}, {dst});
}

}  // namespace ferry::tflite::detail
