// Complex tensors, as FFT-based models make them (spectrograms, spectral filters). Neither
// Keras layers nor TFLite kernels carry complex tensors, so the bridge hands each complex value
// over as its real view: a float tensor with a trailing dim of 2 (real, imaginary), exactly
// torch.view_as_real. Calls on complex values arrive as `ferry.complex.<aten name>` with the
// attribute `complex` naming their complex arguments, and are written with real ops on the two
// parts. Discrete Fourier transforms are matrix products with constant cos/sin tables (dense
// over the transformed dim): exact up to float rounding, and what every back end runs fast.
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

struct Parts {
  Value* re;
  Value* im;  // nullptr for a real operand (zero imaginary part)
};

// The bridge lists the complex arguments comma-separated: "input,other".
bool is_complex_arg(const LowerContext& ctx, const std::string& arg) {
  const Attrs& a = ctx.attrs();
  if (!a.has("complex") || a.is_none("complex")) return false;
  const std::string list = "," + a.get_string("complex") + ",";
  return list.find("," + arg + ",") != std::string::npos;
}

Shape without_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

Parts unpack(LowerContext& ctx, Value* packed) {
  const int64_t last = static_cast<int64_t>(packed->rank()) - 1;
  const Shape part = without_last(packed->shape);
  Value* re = emit_reshape(ctx, emit_axis_slice(ctx, packed, last, 0, 1), part);
  Value* im = emit_reshape(ctx, emit_axis_slice(ctx, packed, last, 1, 2), part);
  return {re, im};
}

Value* pack(LowerContext& ctx, Parts p) {
  Shape one = p.re->shape;
  one.push_back(1);
  Value* im = p.im ? p.im
                   : ctx.emit("mul", {p.re, typed_scalar(ctx, 0.0, p.re->dtype)}, {}, p.re->dtype,
                              p.re->shape);
  Shape packed = p.re->shape;
  packed.push_back(2);
  Attrs attrs;
  attrs.set("axis", static_cast<int64_t>(packed.size()) - 1);
  return ctx.emit("concat", {emit_reshape(ctx, p.re, one), emit_reshape(ctx, im, one)},
                  std::move(attrs), p.re->dtype, packed);
}

// A complex argument as parts, or a real tensor / number as a real part.
Parts parts_of(LowerContext& ctx, const std::string& arg, DType dtype) {
  if (is_complex_arg(ctx, arg)) return unpack(ctx, ctx.in(arg));
  return {operand(ctx, arg, dtype), nullptr};
}

// The real dtype of the call's (packed) complex result or of its real result.
DType part_dtype(const LowerContext& ctx) { return ctx.torch_output().dtype; }

// --- transforms --------------------------------------------------------------------------

// `x` with `dim` moved last (a transpose unless it is last already), and the inverse.
std::vector<int64_t> dim_last_perm(size_t rank, int64_t dim) {
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < static_cast<int64_t>(rank); ++d)
    if (d != dim) perm.push_back(d);
  perm.push_back(dim);
  return perm;
}

Value* permute(LowerContext& ctx, Value* x, const std::vector<int64_t>& perm) {
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
  if (identity) return x;
  Shape shape;
  for (int64_t p : perm) shape.push_back(x->shape[p]);
  Attrs attrs;
  attrs.set("perm", perm);
  return ctx.emit("transpose", {x}, std::move(attrs), x->dtype, shape);
}

std::vector<int64_t> inverse(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  return inv;
}

// x (any rank >= 1, the transformed dim last) times a constant [n_in, n_out] table.
Value* times_table(LowerContext& ctx, Value* x, const std::vector<double>& table, int64_t n_in,
                   int64_t n_out) {
  auto data = std::make_shared<TensorData>(x->dtype, Shape{n_in, n_out});
  if (x->dtype == DType::kFloat32) {
    float* dst = data->mutable_as<float>();
    for (size_t i = 0; i < table.size(); ++i) dst[i] = static_cast<float>(table[i]);
  } else if (x->dtype == DType::kFloat64) {
    double* dst = data->mutable_as<double>();
    for (size_t i = 0; i < table.size(); ++i) dst[i] = table[i];
  } else {
    throw LowerError("Fourier transforms need float32 or float64 tensors");
  }
  Value* flat = x;
  if (x->rank() == 1) flat = emit_reshape(ctx, x, {1, n_in});  // dense wants a batch dim
  Shape out = flat->shape;
  out.back() = n_out;
  Value* y =
      ctx.emit("dense", {flat, ctx.constant(data, Layout::kFixed), nullptr}, {}, x->dtype, out);
  if (x->rank() == 1) y = emit_reshape(ctx, y, {n_out});
  return y;
}

Value* add_opt(LowerContext& ctx, Value* a, Value* b) {
  return b ? emit_binary_op(ctx, "add", a, b) : a;
}

// One DFT along `dim` of complex (or real: im == nullptr) parts.
//   forward: X_k = sum_n x_n e^{-2 pi i k n / N}; inverse: the conjugate kernel.
// `n_out` output bins (k = 0 .. n_out - 1); each table entry is multiplied by `scale`.
Parts dft(LowerContext& ctx, Parts x, int64_t dim, int64_t n_out, bool forward, double scale) {
  const size_t rank = x.re->rank();
  const std::vector<int64_t> perm = dim_last_perm(rank, dim);
  Value* re = permute(ctx, x.re, perm);
  Value* im = x.im ? permute(ctx, x.im, perm) : nullptr;
  const int64_t n = re->shape.back();
  std::vector<double> c(n * n_out), s(n * n_out);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < n_out; ++k) {
      // (i * k) mod n keeps the angle small, so the table is exact to the last bit.
      const double angle = 2.0 * std::numbers::pi * static_cast<double>((i * k) % n) / n;
      c[i * n_out + k] = std::cos(angle) * scale;
      s[i * n_out + k] = std::sin(angle) * scale * (forward ? -1.0 : 1.0);
    }
  }
  // (re + i im)(c + i s) = (re c - im s) + i (re s + im c)
  Value* out_re = times_table(ctx, re, c, n, n_out);
  Value* out_im = times_table(ctx, re, s, n, n_out);
  if (im) {
    std::vector<double> minus_s(s.size());
    for (size_t i = 0; i < s.size(); ++i) minus_s[i] = -s[i];
    out_re = add_opt(ctx, out_re, times_table(ctx, im, minus_s, n, n_out));
    out_im = add_opt(ctx, out_im, times_table(ctx, im, c, n, n_out));
  }
  const std::vector<int64_t> back = inverse(perm);
  return {permute(ctx, out_re, back), permute(ctx, out_im, back)};
}

double norm_scale(int64_t normalization, double size) {
  if (normalization == 1) return 1.0 / std::sqrt(size);
  if (normalization == 2) return 1.0 / size;
  return 1.0;
}

std::vector<int64_t> fft_dims(LowerContext& ctx, size_t rank) {
  std::vector<int64_t> dims;
  for (int64_t d : ctx.attrs().get_ints("dim")) dims.push_back(normalize_axis(d, rank));
  if (dims.empty()) throw LowerError("a Fourier transform over no dim");
  return dims;
}

// aten._fft_r2c(self, dim, normalization, onesided): real in, complex out.
void lower_r2c(LowerContext& ctx) {
  Value* x = ctx.in("input");
  const std::vector<int64_t> dims = fft_dims(ctx, x->rank());
  double size = 1;
  for (int64_t d : dims) size *= static_cast<double>(x->shape[d]);
  const double scale = norm_scale(ctx.attrs().get_int("normalization"), size);
  const bool onesided = ctx.attrs().get_bool("onesided");
  // The last dim first (halved when one-sided), then full transforms of the others.
  const int64_t last = dims.back(), n = x->shape[last];
  Parts p = dft(ctx, {x, nullptr}, last, onesided ? n / 2 + 1 : n, true, scale);
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    p = dft(ctx, p, dims[i], p.re->shape[dims[i]], true, 1.0);
  }
  ctx.set_output(0, pack(ctx, p));
}

// aten._fft_c2c(self, dim, normalization, forward).
void lower_c2c(LowerContext& ctx) {
  Parts p = unpack(ctx, ctx.in("input"));
  const std::vector<int64_t> dims = fft_dims(ctx, p.re->rank());
  double size = 1;
  for (int64_t d : dims) size *= static_cast<double>(p.re->shape[d]);
  double scale = norm_scale(ctx.attrs().get_int("normalization"), size);
  const bool forward = ctx.attrs().get_bool("forward");
  for (int64_t d : dims) {
    p = dft(ctx, p, d, p.re->shape[d], forward, scale);
    scale = 1.0;
  }
  ctx.set_output(0, pack(ctx, p));
}

// aten._fft_c2r(self, dim, normalization, last_dim_size): a one-sided (Hermitian) spectrum
// back to a real signal of `last_dim_size` samples along the last dim. As PyTorch does, only
// bins 0 .. L/2 are read and the imaginary parts of bin 0 (and of bin L/2 for even L) are
// ignored: x_n = sum_k w_k (re_k cos(2 pi k n / L) - im_k sin(2 pi k n / L)), w_k = 1 for
// those bins and 2 for the others.
void lower_c2r(LowerContext& ctx) {
  Parts p = unpack(ctx, ctx.in("input"));
  const std::vector<int64_t> dims = fft_dims(ctx, p.re->rank());
  const int64_t out_len = ctx.attrs().get_int("last_dim_size");
  double size = static_cast<double>(out_len);
  for (size_t i = 0; i + 1 < dims.size(); ++i) size *= static_cast<double>(p.re->shape[dims[i]]);
  const double scale = norm_scale(ctx.attrs().get_int("normalization"), size);
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    p = dft(ctx, p, dims[i], p.re->shape[dims[i]], false, 1.0);
  }
  const int64_t last = dims.back();
  const std::vector<int64_t> perm = dim_last_perm(p.re->rank(), last);
  Value* re = permute(ctx, p.re, perm);
  Value* im = permute(ctx, p.im, perm);
  const int64_t bins = re->shape.back();
  std::vector<double> a(bins * out_len, 0.0), b(bins * out_len, 0.0);
  for (int64_t k = 0; k < bins && 2 * k <= out_len; ++k) {
    const double w = (k == 0 || 2 * k == out_len) ? 1.0 : 2.0;
    for (int64_t i = 0; i < out_len; ++i) {
      const double angle =
          2.0 * std::numbers::pi * static_cast<double>((k * i) % out_len) / out_len;
      a[k * out_len + i] = w * std::cos(angle) * scale;
      b[k * out_len + i] = (k == 0 || 2 * k == out_len) ? 0.0 : -w * std::sin(angle) * scale;
    }
  }
  Value* y = emit_binary_op(ctx, "add", times_table(ctx, re, a, bins, out_len),
                            times_table(ctx, im, b, bins, out_len));
  ctx.set_output(0, permute(ctx, y, inverse(perm)));
}

// --- elementwise -------------------------------------------------------------------------

void lower_abs(LowerContext& ctx) {
  Parts p = unpack(ctx, ctx.in("input"));
  Value* sq = emit_binary_op(ctx, "add", emit_binary_op(ctx, "mul", p.re, p.re),
                             emit_binary_op(ctx, "mul", p.im, p.im));
  ctx.emit_output("sqrt", {sq});
}

// view_as_real's result is the packed form itself; view_as_complex's input already is.
void lower_same(LowerContext& ctx) { ctx.emit_output("identity", {ctx.in("input")}); }

void lower_add_sub(LowerContext& ctx, const std::string& op) {
  const DType dtype = part_dtype(ctx);
  Parts a = parts_of(ctx, "input", dtype), b = parts_of(ctx, "other", dtype);
  const Attrs& attrs = ctx.attrs();
  if (attrs.has("alpha") && !attrs.is_none("alpha") && attrs.get_float("alpha") != 1.0) {
    Value* alpha = number(ctx, attrs.at("alpha"), dtype);
    b = {emit_binary_op(ctx, "mul", b.re, alpha),
         b.im ? emit_binary_op(ctx, "mul", b.im, alpha) : nullptr};
  }
  Value* re = emit_binary_op(ctx, op, a.re, b.re);
  Value* im = a.im && b.im  ? emit_binary_op(ctx, op, a.im, b.im)
              : a.im        ? a.im
              : op == "sub" ? ctx.emit("neg", {b.im}, {}, dtype, b.im->shape)
                            : b.im;
  Shape shape = without_last(ctx.torch_output().shape);
  ctx.set_output(0,
                 pack(ctx, {emit_broadcast_to(ctx, re, shape), emit_broadcast_to(ctx, im, shape)}));
}

void lower_mul(LowerContext& ctx) {
  const DType dtype = part_dtype(ctx);
  Parts a = parts_of(ctx, "input", dtype), b = parts_of(ctx, "other", dtype);
  Value *re, *im;
  if (a.im && b.im) {  // (ar + i ai)(br + i bi)
    re = emit_binary_op(ctx, "sub", emit_binary_op(ctx, "mul", a.re, b.re),
                        emit_binary_op(ctx, "mul", a.im, b.im));
    im = emit_binary_op(ctx, "add", emit_binary_op(ctx, "mul", a.re, b.im),
                        emit_binary_op(ctx, "mul", a.im, b.re));
  } else {
    Parts c = a.im ? a : b;
    Value* r = a.im ? b.re : a.re;
    re = emit_binary_op(ctx, "mul", c.re, r);
    im = emit_binary_op(ctx, "mul", c.im, r);
  }
  ctx.set_output(0, pack(ctx, {re, im}));
}

void lower_div(LowerContext& ctx) {
  const DType dtype = part_dtype(ctx);
  Parts a = parts_of(ctx, "input", dtype), b = parts_of(ctx, "other", dtype);
  if (b.im) {  // a / b = a * conj(b) / |b|^2
    Value* den = emit_binary_op(ctx, "add", emit_binary_op(ctx, "mul", b.re, b.re),
                                emit_binary_op(ctx, "mul", b.im, b.im));
    Value* ar = a.re;
    Value* ai = a.im ? a.im : emit_binary_op(ctx, "mul", a.re, typed_scalar(ctx, 0.0, dtype));
    Value* re = emit_binary_op(ctx, "add", emit_binary_op(ctx, "mul", ar, b.re),
                               emit_binary_op(ctx, "mul", ai, b.im));
    Value* im = emit_binary_op(ctx, "sub", emit_binary_op(ctx, "mul", ai, b.re),
                               emit_binary_op(ctx, "mul", ar, b.im));
    ctx.set_output(
        0, pack(ctx, {emit_binary_op(ctx, "div", re, den), emit_binary_op(ctx, "div", im, den)}));
    return;
  }
  ctx.set_output(0, pack(ctx, {emit_binary_op(ctx, "div", a.re, b.re),
                               emit_binary_op(ctx, "div", a.im, b.re)}));
}

void lower_neg(LowerContext& ctx) { ctx.emit_output("neg", {ctx.in("input")}); }

void lower_conj(LowerContext& ctx) {
  Parts p = unpack(ctx, ctx.in("input"));
  ctx.set_output(0, pack(ctx, {p.re, ctx.emit("neg", {p.im}, {}, p.im->dtype, p.im->shape)}));
}

std::vector<std::string> names(const std::string& base, std::vector<std::string> overloads) {
  std::vector<std::string> out;
  for (const std::string& o : overloads) out.push_back("ferry.complex." + base + "." + o);
  return out;
}

}  // namespace

void register_complex_rules(Registry& registry) {
  // Also under the aten names, which the bridge never hands over directly (a transform always
  // touches a complex value), so `ferry ops` and the op reference list them.
  registry.add({names("_fft_r2c", {"default"}) + std::vector<std::string>{"aten._fft_r2c.default"},
                lower_r2c,
                "dense with cos / sin tables per transformed dim (complex as [..., 2])"});
  registry.add({names("_fft_c2c", {"default"}) + std::vector<std::string>{"aten._fft_c2c.default"},
                lower_c2c,
                "dense with cos / sin tables per transformed dim (complex as [..., 2])"});
  registry.add({names("_fft_c2r", {"default"}) + std::vector<std::string>{"aten._fft_c2r.default"},
                lower_c2r, "dense with Hermitian cos / sin tables (complex as [..., 2])"});
  registry.add({names("abs", {"default"}), lower_abs, "sqrt(re^2 + im^2)"});
  registry.add({names("view_as_real", {"default"}) + names("view_as_complex", {"default"}) +
                    names("clone", {"default"}) + names("alias", {"default"}),
                lower_same, "identity (complex is held as [..., 2])"});
  registry.add({names("add", {"Tensor", "Scalar"}),
                [](LowerContext& c) { lower_add_sub(c, "add"); }, "add on the parts"});
  registry.add({names("sub", {"Tensor", "Scalar"}),
                [](LowerContext& c) { lower_add_sub(c, "sub"); }, "sub on the parts"});
  registry.add(
      {names("mul", {"Tensor", "Scalar"}), lower_mul, "complex product from mul / add / sub"});
  registry.add({names("div", {"Tensor", "Scalar"}), lower_div, "complex quotient from mul / div"});
  registry.add({names("neg", {"default"}), lower_neg, "neg"});
  registry.add({names("conj_physical", {"default"}) + names("_conj_physical", {"default"}),
                lower_conj, "neg of the imaginary part"});
}

}  // namespace ferry
