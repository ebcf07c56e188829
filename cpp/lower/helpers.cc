#include "lower/helpers.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ferry {

std::vector<int64_t> expand_ints(const Attrs& attrs, const std::string& name, size_t rank,
                                 int64_t fallback) {
  if (attrs.is_none(name)) return std::vector<int64_t>(rank, fallback);
  std::vector<int64_t> v = attrs.get_ints(name);
  if (v.size() == 1 && rank > 1) v.assign(rank, v[0]);
  if (v.size() != rank) {
    throw LowerError("'" + name + "' has " + std::to_string(v.size()) + " entries, expected " +
                     std::to_string(rank));
  }
  return v;
}

int64_t normalize_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  int64_t a = axis < 0 ? axis + r : axis;
  // A 0-d tensor accepts dim 0 / -1 in PyTorch.
  if (r == 0 && (axis == 0 || axis == -1)) return 0;
  if (a < 0 || a >= r) {
    throw LowerError("axis " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(r));
  }
  return a;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) throw LowerError("shapes do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<std::string> function_aliases(const std::string& name, bool functional,
                                          bool tensor_method, bool torch_namespace) {
  std::vector<std::string> out;
  if (functional) out.push_back("torch.nn.functional." + name);
  if (torch_namespace) out.push_back("torch." + name);
  if (tensor_method) out.push_back("torch.Tensor." + name);
  out.push_back("aten." + name + ".default");
  return out;
}

void add_unary(Registry& registry, const std::string& name, const std::string& tf_op,
               std::vector<std::string> extra_ops) {
  Rule rule;
  // Out-of-place and in-place spellings lower alike: the trace gives in-place results a new
  // SSA value, so `relu_` is just `relu` here.
  for (const std::string& spelling : {name, name + "_"}) {
    auto aliases = function_aliases(spelling, true, true, true);
    rule.ops.insert(rule.ops.end(), aliases.begin(), aliases.end());
  }
  rule.ops.insert(rule.ops.end(), extra_ops.begin(), extra_ops.end());
  rule.mapping = tf_op;
  rule.lower = [tf_op](LowerContext& ctx) { ctx.emit_output(tf_op, {ctx.in("input")}); };
  rule.free_sizes = true;
  registry.add(std::move(rule));
}

Value* emit_reshape(LowerContext& ctx, Value* x, Shape shape) {
  Attrs attrs;
  attrs.set("shape", shape);
  return ctx.emit("reshape", {x}, std::move(attrs), x->dtype, std::move(shape));
}

SymDims broadcast_sym(const SymDims& a, size_t rank_a, const SymDims& b, size_t rank_b) {
  const size_t rank = std::max(rank_a, rank_b);
  SymDims out(rank, -1);
  auto take = [&](const SymDims& sym, size_t r) {
    for (size_t i = 0; i < sym.size() && i < r; ++i) {
      if (sym[i] >= 0 && out[rank - r + i] < 0) out[rank - r + i] = sym[i];
    }
  };
  take(a, rank_a);
  take(b, rank_b);
  return has_free_dims(out) ? out : SymDims{};
}

SymDims broadcast_sym(const Value& a, const Value& b) {
  return broadcast_sym(a.sym, a.rank(), b.sym, b.rank());
}

SymDims permuted_sym(const Value& x, const std::vector<int64_t>& perm) {
  if (x.sym.empty()) return {};
  SymDims out;
  for (int64_t p : perm) out.push_back(x.sym.at(static_cast<size_t>(p)));
  return out;
}

namespace {

Value* int32_constant(LowerContext& ctx, const std::vector<int32_t>& values) {
  auto data =
      std::make_shared<TensorData>(DType::kInt32, Shape{static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), data->mutable_as<int32_t>());
  return ctx.constant(data);
}

}  // namespace

Value* emit_sized_reshape(LowerContext& ctx, Value* x, Shape shape, SymDims sym) {
  int free = 0;
  for (int32_t s : sym) free += s >= 0;
  if (free == 0) return emit_reshape(ctx, x, std::move(shape));
  if (free == 1) {
    Shape target = shape;
    for (size_t d = 0; d < sym.size(); ++d)
      if (sym[d] >= 0) target[d] = -1;
    Attrs attrs;
    attrs.set("shape", target);
    return ctx.emit("reshape", {x}, std::move(attrs), x->dtype, std::move(shape), std::move(sym));
  }
  std::vector<Value*> pieces;
  std::vector<int32_t> fixed;  // constants not yet placed
  std::vector<int64_t> read;   // axes of x not yet read, next to each other in the target
  auto flush_read = [&] {
    if (read.empty()) return;
    Attrs axes;
    axes.set("axes", read);
    const auto n = static_cast<int64_t>(read.size());
    pieces.push_back(ctx.emit("dims", {x}, std::move(axes), DType::kInt32, {n}));
    read.clear();
  };
  auto flush = [&] {
    flush_read();
    if (!fixed.empty()) pieces.push_back(int32_constant(ctx, fixed));
    fixed.clear();
  };
  int inferred = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (sym[d] < 0) {
      flush_read();
      fixed.push_back(static_cast<int32_t>(shape[d]));
      continue;
    }
    auto same = std::find(x->sym.begin(), x->sym.end(), sym[d]);
    if (same == x->sym.end()) {
      // A size x does not have: the first is left to the reshape (-1), others computed.
      flush_read();
      if (++inferred == 1) {
        fixed.push_back(-1);
      } else {
        flush();
        pieces.push_back(ctx.size_value(sym[d]));
      }
      continue;
    }
    if (!fixed.empty()) flush();
    read.push_back(same - x->sym.begin());
  }
  flush();
  Value* target = pieces.front();
  if (pieces.size() > 1) {
    Attrs axis;
    axis.set("axis", int64_t{0});
    target = ctx.emit("concat", pieces, std::move(axis), DType::kInt32,
                      {static_cast<int64_t>(shape.size())});
  }
  // The target's fixed sizes, -1 at the free ones: a back end that infers shapes (Keras) keeps
  // what is known of the result.
  Shape known = shape;
  for (size_t d = 0; d < sym.size(); ++d)
    if (sym[d] >= 0) known[d] = -1;
  Attrs attrs;
  attrs.set("shape", known);
  return ctx.emit("reshape_to", {x, target}, std::move(attrs), x->dtype, std::move(shape),
                  std::move(sym));
}

Value* emit_size_scalar(LowerContext& ctx, int64_t value, int32_t sym) {
  if (sym < 0) return ctx.scalar(static_cast<double>(value), DType::kInt32);
  return emit_reshape(ctx, ctx.size_value(sym), {});
}

Value* emit_iota(LowerContext& ctx, int64_t n, int32_t sym) {
  if (sym < 0) {
    std::vector<int32_t> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    return int32_constant(ctx, values);
  }
  return ctx.emit(
      "range",
      {emit_size_scalar(ctx, 0, -1), emit_size_scalar(ctx, n, sym), emit_size_scalar(ctx, 1, -1)},
      {}, DType::kInt32, {n}, {sym});
}

Value* emit_fill(LowerContext& ctx, Value* value, const Shape& shape, const SymDims& sym) {
  std::vector<Value*> pieces;
  std::vector<int32_t> fixed;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (sym.empty() || sym[d] < 0) {
      fixed.push_back(static_cast<int32_t>(shape[d]));
      continue;
    }
    if (!fixed.empty()) pieces.push_back(int32_constant(ctx, fixed));
    fixed.clear();
    pieces.push_back(ctx.size_value(sym[d]));
  }
  if (!fixed.empty()) pieces.push_back(int32_constant(ctx, fixed));
  Value* dims = pieces.front();
  if (pieces.size() > 1) {
    Attrs axis;
    axis.set("axis", int64_t{0});
    dims = ctx.emit("concat", pieces, std::move(axis), DType::kInt32,
                    {static_cast<int64_t>(shape.size())});
  }
  return ctx.emit("fill", {dims, value}, {}, value->dtype, shape, sym);
}

Value* emit_constant_pad(LowerContext& ctx, Value* x, const std::vector<int64_t>& pads,
                         double value, bool below_all) {
  if (pads.size() != 2 * x->rank()) throw LowerError("internal: pad list does not match rank");
  if (std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })) return x;
  Shape shape = x->shape;
  for (size_t i = 0; i < shape.size(); ++i) shape[i] += pads[2 * i] + pads[2 * i + 1];
  Attrs attrs;
  attrs.set("pads", pads);
  attrs.set("mode", std::string("CONSTANT"));
  attrs.set("value", value);
  if (below_all) attrs.set("below_all", true);
  SymDims sym = x->sym;  // a padded free size is still free, by the padding more
  for (size_t i = 0; i < sym.size(); ++i)
    sym[i] = ctx.sym_plus(sym[i], pads[2 * i] + pads[2 * i + 1]);
  return ctx.emit("pad", {x}, std::move(attrs), x->dtype, std::move(shape), std::move(sym));
}

Value* cast_to(LowerContext& ctx, Value* x, DType dtype) {
  if (x->dtype == dtype) return x;
  Attrs attrs;
  attrs.set("dtype", std::string(dtype_name(dtype)));
  return ctx.emit("cast", {x}, std::move(attrs), dtype, x->shape, x->sym);
}

namespace {

// IEEE-style binary16 / bfloat16 bits of `value`, rounded to nearest even in one step from
// double (going through float would round twice).
uint16_t encode_half(double value, int exp_bits, int man_bits) {
  const uint16_t sign = std::signbit(value) ? uint16_t(1u << (exp_bits + man_bits)) : 0;
  const uint16_t exp_all = uint16_t((1u << exp_bits) - 1);
  if (std::isnan(value)) return uint16_t(sign | exp_all << man_bits | 1u << (man_bits - 1));
  const double a = std::fabs(value);
  const int bias = (1 << (exp_bits - 1)) - 1;
  if (std::isinf(a)) return uint16_t(sign | exp_all << man_bits);
  if (a == 0) return sign;
  int e = 0;
  std::frexp(a, &e);
  e -= 1;  // a = 1.f * 2^e
  if (e < 1 - bias) {
    // Subnormal: a mantissa that rounds up to 2^man_bits reads as the smallest normal.
    const double m = std::nearbyint(std::ldexp(a, bias - 1 + man_bits));
    return uint16_t(sign | static_cast<uint16_t>(m));
  }
  double m = std::nearbyint(std::ldexp(a, man_bits - e));
  if (m == std::ldexp(1.0, man_bits + 1)) {
    m = std::ldexp(1.0, man_bits);
    ++e;
  }
  if (e > bias) return uint16_t(sign | exp_all << man_bits);
  const uint16_t fraction = static_cast<uint16_t>(m - std::ldexp(1.0, man_bits));
  return uint16_t(sign | uint16_t(e + bias) << man_bits | fraction);
}

}  // namespace

Value* typed_scalar(LowerContext& ctx, double value, DType dtype) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return ctx.scalar(value, dtype);
  auto data = std::make_shared<TensorData>(dtype, Shape{});
  *data->mutable_as<uint16_t>() =
      dtype == DType::kFloat16 ? encode_half(value, 5, 10) : encode_half(value, 8, 7);
  return ctx.constant(std::move(data));
}

Value* typed_int_scalar(LowerContext& ctx, int64_t value, DType dtype) {
  if (dtype != DType::kInt64) return typed_scalar(ctx, static_cast<double>(value), dtype);
  auto data = std::make_shared<TensorData>(dtype, Shape{});
  *data->mutable_as<int64_t>() = value;
  return ctx.constant(std::move(data));
}

Value* with_batch_dim(LowerContext& ctx, Value* x, size_t spatial_rank, const std::string& what) {
  if (x->rank() == spatial_rank + 2) return x;
  if (x->rank() != spatial_rank + 1) {
    throw LowerError(what + " expects a " + std::to_string(spatial_rank + 1) + "-D or " +
                     std::to_string(spatial_rank + 2) + "-D input, got " +
                     std::to_string(x->rank()) + "-D");
  }
  Shape shape = x->shape;
  shape.insert(shape.begin(), 1);
  return emit_reshape(ctx, x, std::move(shape));
}

void set_output_reshaped(LowerContext& ctx, Value* y, size_t i) {
  const Shape& want = ctx.torch_output(i).shape;
  if (y->shape != want) {
    auto squeezed = [](const Shape& s) {
      Shape out;
      for (int64_t d : s) {
        if (d != 1) out.push_back(d);
      }
      return out;
    };
    if (y->rank() == want.size() || squeezed(y->shape) != squeezed(want)) {
      throw LowerError(
          "internal: the lowered result's shape differs from PyTorch's beyond "
          "unit dimensions");
    }
    y = emit_reshape(ctx, y, want);
  }
  ctx.set_output(i, y);
}

std::vector<int64_t> split_sizes(int64_t size, int64_t split_size) {
  if (split_size < 0 || (split_size == 0 && size > 0)) {
    throw LowerError("split_size must be positive, got " + std::to_string(split_size));
  }
  if (size == 0) return {0};
  std::vector<int64_t> sizes(static_cast<size_t>((size + split_size - 1) / split_size), split_size);
  sizes.back() = size - split_size * static_cast<int64_t>(sizes.size() - 1);
  return sizes;
}

std::vector<int64_t> chunk_sizes(int64_t size, int64_t chunks) {
  if (chunks <= 0) throw LowerError("chunk expects a positive number of chunks");
  // An empty dim comes back as `chunks` empty pieces, unlike split's one.
  if (size == 0) return std::vector<int64_t>(static_cast<size_t>(chunks), 0);
  return split_sizes(size, std::max<int64_t>((size + chunks - 1) / chunks, 1));
}

std::vector<int64_t> piece_offsets(const std::vector<int64_t>& sizes, int64_t size) {
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw LowerError("split sizes must not be negative");
    offsets.push_back(at);
    at += s;
  }
  if (at != size) {
    throw LowerError("split sizes add up to " + std::to_string(at) + " for a dim of size " +
                     std::to_string(size));
  }
  return offsets;
}

Shape unsqueezed(const Shape& shape, int64_t axis) {
  Shape out = shape;
  out.insert(out.begin() + axis, 1);
  return out;
}

Value* emit_axis_slice(LowerContext& ctx, Value* x, int64_t axis, int64_t begin, int64_t end) {
  if (begin == 0 && end == x->shape[axis]) return x;
  std::vector<int64_t> begins(x->rank(), 0), ends = x->shape, strides(x->rank(), 1);
  if (has_free_dims(x->sym)) {
    if (x->sym[static_cast<size_t>(axis)] >= 0)
      throw LowerError("cutting a dim of free size (" + ctx.graph().symbols->render(x->sym[axis]) +
                       ") at fixed positions is not supported; make that dim static");
    // The other free dims are taken whole, whatever their size: an end past every size.
    for (size_t d = 0; d < x->sym.size(); ++d)
      if (x->sym[d] >= 0) ends[d] = std::numeric_limits<int32_t>::max();
  }
  begins[axis] = begin;
  ends[axis] = end;
  Shape shape = x->shape;
  shape[axis] = end - begin;
  Attrs attrs;
  attrs.set("begin", std::move(begins));
  attrs.set("end", std::move(ends));
  attrs.set("strides", std::move(strides));
  return ctx.emit("slice", {x}, std::move(attrs), x->dtype, std::move(shape), x->sym);
}

std::vector<int64_t> pads_by_dim(const std::vector<int64_t>& torch_pads, size_t rank) {
  if (torch_pads.size() % 2 != 0 || torch_pads.size() / 2 > rank) {
    throw LowerError("pad of length " + std::to_string(torch_pads.size()) + " does not fit a " +
                     std::to_string(rank) + "-D input");
  }
  std::vector<int64_t> pads(2 * rank, 0);
  for (size_t i = 0; i < torch_pads.size() / 2; ++i) {
    const size_t dim = rank - 1 - i;
    pads[2 * dim] = torch_pads[2 * i];
    pads[2 * dim + 1] = torch_pads[2 * i + 1];
  }
  return pads;
}

std::pair<int64_t, int64_t> adaptive_window(int64_t i, int64_t in, int64_t out) {
  if (out <= 0 || i < 0 || i >= out) throw LowerError("internal: adaptive window out of range");
  return {i * in / out, ((i + 1) * in + out - 1) / out};
}

void bind_unread_outputs(LowerContext& ctx, size_t first, const std::string& call,
                         const std::string& what) {
  for (size_t i = first; i < ctx.num_outputs(); ++i) {
    if (ctx.output_needed(i)) {
      throw LowerError(call + ": output " + std::to_string(i) + " (" + what +
                       ") is used, but only the main result converts");
    }
  }
  for (size_t i = first; i < ctx.num_outputs(); ++i) {
    const Value& t = ctx.torch_output(i);
    Attrs attrs;
    attrs.set("shape", t.shape);
    auto zero = std::make_shared<TensorData>(t.dtype, Shape(t.rank(), 1));
    ctx.emit_output("broadcast_to", {ctx.constant(std::move(zero))}, std::move(attrs), i);
  }
}

std::string self_arg(const LowerContext& ctx) {
  for (const char* name : {"input", "self", "arg0"}) {
    if (ctx.has_tensor(name) || ctx.attrs().has(name)) return name;
  }
  return "input";
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> torch_names(const std::string& name,
                                     const std::vector<std::string>& aten_overloads) {
  std::vector<std::string> out = {"torch." + name, "torch.Tensor." + name};
  for (const std::string& overload : aten_overloads) out.push_back("aten." + name + "." + overload);
  return out;
}

Value* emit_broadcast_to(LowerContext& ctx, Value* x, const Shape& shape) {
  if (x->shape == shape) return x;
  if (x->rank() < shape.size()) {
    Shape padded(shape.size() - x->rank(), 1);
    padded.insert(padded.end(), x->shape.begin(), x->shape.end());
    x = emit_reshape(ctx, x, padded);
  }
  Attrs attrs;
  attrs.set("shape", shape);
  return ctx.emit("broadcast_to", {x}, std::move(attrs), x->dtype, shape);
}

double lowest_value(DType dtype) {
  switch (dtype) {
    case DType::kInt64:
      return static_cast<double>(std::numeric_limits<int64_t>::min());
    case DType::kInt32:
      return std::numeric_limits<int32_t>::min();
    case DType::kInt16:
      return std::numeric_limits<int16_t>::min();
    case DType::kInt8:
      return std::numeric_limits<int8_t>::min();
    case DType::kUInt8:
    case DType::kBool:
      return 0.0;
    default:
      return -std::numeric_limits<double>::infinity();
  }
}

Value* number(LowerContext& ctx, const Attr& attr, DType dtype) {
  if (const auto* i = std::get_if<int64_t>(&attr)) return typed_int_scalar(ctx, *i, dtype);
  if (const auto* d = std::get_if<double>(&attr)) return typed_scalar(ctx, *d, dtype);
  if (const auto* b = std::get_if<bool>(&attr)) return typed_scalar(ctx, *b ? 1 : 0, dtype);
  throw LowerError("expected a number or a tensor, got " + attr_to_string(attr));
}

Value* operand(LowerContext& ctx, const std::string& arg, DType dtype) {
  if (Value* t = ctx.in_opt(arg)) return cast_to(ctx, t, dtype);
  if (ctx.attrs().is_none(arg)) throw LowerError("missing operand '" + arg + "'");
  return number(ctx, ctx.attrs().at(arg), dtype);
}

namespace {

bool is_comparison(const std::string& op) {
  return op == "equal" || op == "not_equal" || op == "less" || op == "less_equal" ||
         op == "greater" || op == "greater_equal" || op == "logical_and" || op == "logical_or";
}

}  // namespace

Value* emit_unary_op(LowerContext& ctx, const std::string& op, Value* x) {
  return ctx.emit(op, {x}, {}, op == "logical_not" ? DType::kBool : x->dtype, x->shape);
}

Value* emit_binary_op(LowerContext& ctx, const std::string& op, Value* a, Value* b) {
  return ctx.emit(op, {a, b}, {}, is_comparison(op) ? DType::kBool : a->dtype,
                  broadcast_shapes(a->shape, b->shape));
}

Value* emit_select(LowerContext& ctx, Value* cond, Value* a, Value* b) {
  const SymDims ab = broadcast_sym(*a, *b);
  return ctx.emit("where", {cond, a, b}, {}, a->dtype,
                  broadcast_shapes(cond->shape, broadcast_shapes(a->shape, b->shape)),
                  broadcast_sym(cond->sym, cond->rank(), ab, std::max(a->rank(), b->rank())));
}

std::vector<int64_t> reduction_axes(const Attrs& attrs, size_t rank) {
  const std::string name = attrs.has("dim") || !attrs.has("axis") ? "dim" : "axis";
  std::vector<int64_t> axes;
  if (!attrs.is_none(name)) {
    for (int64_t d : attrs.get_ints(name)) axes.push_back(normalize_axis(d, rank));
  }
  if (axes.empty()) {
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
    return axes;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    throw LowerError("a dim appears more than once in '" + name + "'");
  return axes;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& axes, bool keep) {
  Shape out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) == axes.end()) {
      out.push_back(shape[i]);
    } else if (keep) {
      out.push_back(1);
    }
  }
  return out;
}

Value* emit_reduction(LowerContext& ctx, const std::string& op, Value* x,
                      const std::vector<int64_t>& axes, bool keep) {
  Attrs attrs;
  attrs.set("axes", axes);
  attrs.set("keepdims", keep);
  SymDims sym;  // free sizes of the dims that remain (a kept reduced dim is 1)
  for (size_t d = 0; d < x->sym.size(); ++d) {
    const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (!reduced) {
      sym.push_back(x->sym[d]);
    } else if (keep) {
      sym.push_back(-1);
    }
  }
  return ctx.emit(op, {x}, std::move(attrs), x->dtype, reduced_shape(x->shape, axes, keep),
                  std::move(sym));
}

int64_t normalized_shift(int64_t shift, int64_t size) {
  if (size <= 0) return 0;
  const int64_t r = shift % size;
  return r < 0 ? r + size : r;
}

std::vector<uint8_t> triangle_mask(int64_t rows, int64_t cols, int64_t diagonal, bool upper) {
  std::vector<uint8_t> mask(static_cast<size_t>(std::max<int64_t>(rows * cols, 0)));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      mask[static_cast<size_t>(i * cols + j)] = upper ? j - i >= diagonal : j - i <= diagonal;
    }
  }
  return mask;
}

}  // namespace ferry
