#pragma once

// The float32 operators recurrent layers are written with, shared by the unrolled form
// (writer_ops_rnn.cc) and the loop over a free number of steps (writer_ops_gru_loop.cc).
// Internal to cpp/tflite.
#include <algorithm>
#include <string>
#include <vector>

#include "tflite/builder.h"

namespace ferry::tflite::detail {

// Float32 operators on one layer's tensors, named under its scope. Each returns its output:
// `into` when given, else a new tensor of `shape` named `name`.
class Ops {
 public:
  Ops(ModelBuilder& m, std::string scope) : m_(m), scope_(std::move(scope)) {}

  int tensor(const Shape& shape, const std::string& name) {
    return m_.add_tensor(fb::TensorType_FLOAT32, shape, scope_ + "/" + name);
  }

  int constant(const std::vector<float>& v, const Shape& shape, const std::string& name) {
    return m_.add_constant(fb::TensorType_FLOAT32, shape, v.data(), v.size() * sizeof(float),
                           scope_ + "/" + name);
  }

  // A dense kernel [Out, In]: with int8 weights and `channel_axis` 0 stored as INT8 per
  // output row (Writer::kernel_axis gives -1 where keep_float keeps the layer float).
  int kernel(std::vector<float> v, const Shape& shape, const std::string& name, int channel_axis) {
    return m_.add_floats(std::move(v), shape, scope_ + "/" + name, channel_axis);
  }

  // An LSTM gate matrix: INT8 with one scale when `int8`, else float32.
  int gate_weights(const std::vector<float>& v, const Shape& shape, const std::string& name,
                   bool int8) {
    return int8 ? m_.add_int8_per_tensor(v, shape, scope_ + "/" + name) : constant(v, shape, name);
  }

  // Rows of `x` (all axes but the last flattened) times weights [Out, In], plus bias [Out];
  // the hybrid kernel where the weights are INT8.
  int fully_connected(int x, int weights, int bias, const Shape& shape, const std::string& name) {
    int out = tensor(shape, name);
    m_.add_op(fb::BuiltinOperator_FULLY_CONNECTED,
              m_.hybrid_version(weights, fb::BuiltinOperator_FULLY_CONNECTED, 1),
              {x, weights, bias}, {out}, fb::BuiltinOptions_FullyConnectedOptions,
              fb::CreateFullyConnectedOptions(m_.fbb()).Union());
    return out;
  }

  int binary(fb::BuiltinOperator code, int a, int b, const Shape& shape, const std::string& name,
             int into = -1) {
    int out = into >= 0 ? into : tensor(shape, name);
    auto& f = m_.fbb();
    switch (code) {
      case fb::BuiltinOperator_ADD:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_AddOptions,
                  fb::CreateAddOptions(f).Union());
        break;
      case fb::BuiltinOperator_SUB:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_SubOptions,
                  fb::CreateSubOptions(f).Union());
        break;
      default:
        m_.add_op(code, 1, {a, b}, {out}, fb::BuiltinOptions_MulOptions,
                  fb::CreateMulOptions(f).Union());
    }
    return out;
  }

  int unary(fb::BuiltinOperator code, int x, const Shape& shape, const std::string& name) {
    int out = tensor(shape, name);
    m_.add_op(code, 1, {x}, {out});
    return out;
  }

  // Equal parts of the last axis of a [B, N] tensor.
  std::vector<int> split(int x, const Shape& part, const std::vector<std::string>& names) {
    std::vector<int> outs;
    for (const std::string& name : names) outs.push_back(tensor(part, name));
    int axis = m_.add_int32({1}, {}, scope_ + "/split_axis");
    m_.add_op(fb::BuiltinOperator_SPLIT, 1, {axis, x}, to_vector(outs),
              fb::BuiltinOptions_SplitOptions,
              fb::CreateSplitOptions(m_.fbb(), static_cast<int32_t>(outs.size())).Union());
    return outs;
  }

  // Columns [begin, end) of a [rows, N] tensor.
  int columns(int x, int64_t rows, int64_t begin, int64_t end, const std::string& name) {
    int out = tensor({rows, end - begin}, name);
    auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };
    m_.add_op(fb::BuiltinOperator_STRIDED_SLICE, 1,
              {x, m_.add_int32({0, i32(begin)}, {2}, scope_ + "/begin"),
               m_.add_int32({i32(rows), i32(end)}, {2}, scope_ + "/end"),
               m_.add_int32({1, 1}, {2}, scope_ + "/strides")},
              {out}, fb::BuiltinOptions_StridedSliceOptions,
              fb::CreateStridedSliceOptions(m_.fbb()).Union());
    return out;
  }

  // [rows, widths[i]] parts side by side into `out`. XNNPACK delegates CONCATENATION of at
  // most 5 inputs, so more are joined as a tree of such: a few extra copies of the sequence,
  // against a delegate partition boundary at every longer one.
  void concat(std::vector<int> parts, std::vector<int64_t> widths, int64_t rows, int out,
              const std::string& name) {
    constexpr size_t kMaxInputs = 5;
    auto join = [&](const std::vector<int>& in, int dst) {
      m_.add_op(fb::BuiltinOperator_CONCATENATION, 1, to_vector(in), {dst},
                fb::BuiltinOptions_ConcatenationOptions,
                fb::CreateConcatenationOptions(m_.fbb(), 1).Union());
    };
    for (int level = 0; parts.size() > kMaxInputs; ++level) {
      std::vector<int> next;
      std::vector<int64_t> next_widths;
      for (size_t i = 0; i < parts.size(); i += kMaxInputs) {
        const size_t end = std::min(parts.size(), i + kMaxInputs);
        int64_t width = 0;
        for (size_t j = i; j < end; ++j) width += widths[j];
        int joined = parts[i];
        if (end - i > 1) {
          joined = tensor({rows, width}, name + "_" + std::to_string(level) + "_" +
                                             std::to_string(i / kMaxInputs));
          join(std::vector<int>(parts.begin() + i, parts.begin() + end), joined);
        }
        next.push_back(joined);
        next_widths.push_back(width);
      }
      parts.swap(next);
      widths.swap(next_widths);
    }
    join(parts, out);
  }

  void reshape(int x, const Shape& shape, int out) {
    std::vector<int32_t> dims(shape.begin(), shape.end());
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {x, m_.add_int32(dims, {static_cast<int64_t>(dims.size())}, scope_ + "/shape")},
              {out});
  }

 private:
  static std::vector<int32_t> to_vector(const std::vector<int>& v) {
    return std::vector<int32_t>(v.begin(), v.end());
  }

  ModelBuilder& m_;
  std::string scope_;
};

// One direction's weights as FULLY_CONNECTED operands, and the step functions. Gate blocks are
// in Keras' order (LSTM i, f, c, o; GRU z, r, h). A state of -1 is zeros: the first step then
// skips the recurrent product instead of multiplying zeros.
struct Cell {
  Ops& ops;
  int64_t batch, hidden;
  int recurrent_weights, recurrent_bias;
  int reset_bias = -1;  // GRU: the recurrent bias of the h block, [H], or -1 without biases

  Shape state() const { return {batch, hidden}; }

  int recurrent(int h, int64_t gates, const std::string& s) {
    return ops.fully_connected(h, recurrent_weights, recurrent_bias, {batch, gates * hidden},
                               s + "recurrent");
  }

  // gates = xw + h·U; c' = sigmoid(f)·c + sigmoid(i)·tanh(g); h' = sigmoid(o)·tanh(c').
  void lstm(int xw, int h, int c, int h_out, int c_out, const std::string& s) {
    const Shape bh = state(), bg{batch, 4 * hidden};
    int gates =
        h < 0 ? xw : ops.binary(fb::BuiltinOperator_ADD, xw, recurrent(h, 4, s), bg, s + "gates");
    auto g = ops.split(gates, bh, {s + "i_in", s + "f_in", s + "g_in", s + "o_in"});
    int i = ops.unary(fb::BuiltinOperator_LOGISTIC, g[0], bh, s + "i");
    int cand = ops.unary(fb::BuiltinOperator_TANH, g[2], bh, s + "g");
    int o = ops.unary(fb::BuiltinOperator_LOGISTIC, g[3], bh, s + "o");
    int ig = ops.binary(fb::BuiltinOperator_MUL, i, cand, bh, s + "i_g", c < 0 ? c_out : -1);
    if (c >= 0) {
      int f = ops.unary(fb::BuiltinOperator_LOGISTIC, g[1], bh, s + "f");
      int fc = ops.binary(fb::BuiltinOperator_MUL, f, c, bh, s + "f_c");
      ops.binary(fb::BuiltinOperator_ADD, fc, ig, bh, "", c_out);
    }
    int tc = ops.unary(fb::BuiltinOperator_TANH, c_out, bh, s + "tanh_c");
    ops.binary(fb::BuiltinOperator_MUL, o, tc, bh, "", h_out);
  }

  // Keras GRU with reset_after (PyTorch's GRU): z = sigmoid(xz + hz), r = sigmoid(xr + hr),
  // n = tanh(xh + r·(h·U_h + b_h)), h' = n + z·(h - n). The z and r recurrent biases are
  // folded into the input projection's.
  void gru(int xw, int h, int h_out, const std::string& s) {
    const Shape bh = state();
    auto x = ops.split(xw, bh, {s + "xz", s + "xr", s + "xh"});
    if (h >= 0) {
      auto r_in = ops.split(recurrent(h, 3, s), bh, {s + "hz", s + "hr", s + "hh"});
      int z = ops.unary(fb::BuiltinOperator_LOGISTIC,
                        ops.binary(fb::BuiltinOperator_ADD, x[0], r_in[0], bh, s + "z_in"), bh,
                        s + "z");
      int r = ops.unary(fb::BuiltinOperator_LOGISTIC,
                        ops.binary(fb::BuiltinOperator_ADD, x[1], r_in[1], bh, s + "r_in"), bh,
                        s + "r");
      int rh = ops.binary(fb::BuiltinOperator_MUL, r, r_in[2], bh, s + "r_hh");
      int n = ops.unary(fb::BuiltinOperator_TANH,
                        ops.binary(fb::BuiltinOperator_ADD, x[2], rh, bh, s + "n_in"), bh, s + "n");
      int d = ops.binary(fb::BuiltinOperator_SUB, h, n, bh, s + "h_minus_n");
      int zd = ops.binary(fb::BuiltinOperator_MUL, z, d, bh, s + "z_d");
      ops.binary(fb::BuiltinOperator_ADD, n, zd, bh, "", h_out);
      return;
    }
    // h = 0: h·U_h + b_h is the bias alone, and h' = n - z·n.
    int z = ops.unary(fb::BuiltinOperator_LOGISTIC, x[0], bh, s + "z");
    int pre = x[2];
    if (reset_bias >= 0) {
      int r = ops.unary(fb::BuiltinOperator_LOGISTIC, x[1], bh, s + "r");
      int rb = ops.binary(fb::BuiltinOperator_MUL, r, reset_bias, bh, s + "r_hh");
      pre = ops.binary(fb::BuiltinOperator_ADD, x[2], rb, bh, s + "n_in");
    }
    int n = ops.unary(fb::BuiltinOperator_TANH, pre, bh, s + "n");
    int zn = ops.binary(fb::BuiltinOperator_MUL, z, n, bh, s + "z_n");
    ops.binary(fb::BuiltinOperator_SUB, n, zn, bh, "", h_out);
  }
};

// Keras' [rows, cols] kernel as FULLY_CONNECTED's [cols, rows] weights.
inline std::vector<float> transposed(const std::vector<float>& k, int64_t rows, int64_t cols) {
  std::vector<float> w(k.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[c * rows + r] = k[r * cols + c];
  return w;
}

}  // namespace ferry::tflite::detail
