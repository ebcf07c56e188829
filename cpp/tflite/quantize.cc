#include "tflite/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

namespace ferry::tflite {
namespace {

using Code = fb::BuiltinOperator;

struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  bool wide = false;  // INT16 (int16x8 activations) rather than INT8

  bool operator==(const QParams&) const = default;
  float qmin() const { return wide ? -32768.0f : -128.0f; }
  float qmax() const { return wide ? 32767.0f : 127.0f; }
  float lowest() const { return (qmin() - static_cast<float>(zero_point)) * scale; }
  float highest() const { return (qmax() - static_cast<float>(zero_point)) * scale; }
  fb::TensorType type() const { return wide ? fb::TensorType_INT16 : fb::TensorType_INT8; }
};

// Per tensor, asymmetric over [lo, hi] widened to hold 0 (zero padding, ReLU's floor and
// the kernels' accumulators need zero exactly representable).
QParams asymmetric(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  // A constant-zero tensor still needs a usable scale; kernels reject zero.
  const float scale = std::max(hi - lo, 1e-6f) / 255.0f;
  const float zero = std::nearbyint(-128.0f - lo / scale);
  return {scale, static_cast<int32_t>(std::clamp(zero, -128.0f, 127.0f))};
}

// INT16 activations are symmetric (zero point 0), as the int16x8 kernels require.
QParams symmetric16(float lo, float hi) { return {std::max({-lo, hi, 1e-6f}) / 32767.0f, 0, true}; }

enum class Kind {
  kKernel,  // CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: kernel per channel, bias int32
  kTied,    // the kernel needs its output's scale and zero point equal to its input's
  kFixed,   // the kernel fixes its output's scale and zero point
  kOwn,     // the output's parameters come from its own range
};

struct Rule {
  Kind kind;
  int version;  // the lowest that expresses the int8 (or int16x8) form
  int channel_axis = -1;
  QParams fixed{};
  bool symmetric_constants = false;  // constant operands need zero point 0
};

// Each builtin with an integer form here: its kind, the lowest version expressing the int8
// form and the int16x8 one (0: the builtin kernels have no int16x8 form; it runs in float).
struct Forms {
  Kind kind;
  int int8;
  int int16;
  int channel_axis = -1;
  bool symmetric_constants = false;
};

const std::map<Code, Forms>& forms() {
  using B = fb::BuiltinOperator;
  static const std::map<Code, Forms> table = {
      {B::BuiltinOperator_CONV_2D, {Kind::kKernel, 3, 4, 0}},
      {B::BuiltinOperator_DEPTHWISE_CONV_2D, {Kind::kKernel, 3, 5, 3}},
      {B::BuiltinOperator_FULLY_CONNECTED, {Kind::kKernel, 4, 7, 0}},
      {B::BuiltinOperator_RESHAPE, {Kind::kTied, 1, 1}},
      {B::BuiltinOperator_SQUEEZE, {Kind::kTied, 1, 1}},
      {B::BuiltinOperator_EXPAND_DIMS, {Kind::kTied, 1, 1}},
      {B::BuiltinOperator_STRIDED_SLICE, {Kind::kTied, 2, 1}},
      {B::BuiltinOperator_TRANSPOSE, {Kind::kTied, 2, 5}},
      {B::BuiltinOperator_MAX_POOL_2D, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_AVERAGE_POOL_2D, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_PAD, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_PADV2, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_MIRROR_PAD, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_CONCATENATION, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_REDUCE_MAX, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_REDUCE_MIN, {Kind::kTied, 2, 3}},
      {B::BuiltinOperator_GATHER, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_SPLIT, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_MAXIMUM, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_MINIMUM, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_RESIZE_BILINEAR, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, {Kind::kTied, 2, 4}},
      {B::BuiltinOperator_DEPTH_TO_SPACE, {Kind::kTied, 2, 0}},
      {B::BuiltinOperator_SPACE_TO_DEPTH, {Kind::kTied, 2, 0}},
      {B::BuiltinOperator_BROADCAST_TO, {Kind::kTied, 3, 3}},
      {B::BuiltinOperator_LOGISTIC, {Kind::kFixed, 2, 3}},
      {B::BuiltinOperator_SOFTMAX, {Kind::kFixed, 2, 3}},
      {B::BuiltinOperator_TANH, {Kind::kFixed, 2, 3}},
      {B::BuiltinOperator_LOG_SOFTMAX, {Kind::kFixed, 2, 0}},
      // int16x8 ADD and SUB are written with pot_scale_int16 off: any scales.
      {B::BuiltinOperator_ADD, {Kind::kOwn, 2, 3}},
      {B::BuiltinOperator_SUB, {Kind::kOwn, 2, 5}},
      {B::BuiltinOperator_MUL, {Kind::kOwn, 2, 4}},
      {B::BuiltinOperator_MEAN, {Kind::kOwn, 2, 3}},
      {B::BuiltinOperator_RELU, {Kind::kOwn, 2, 3}},
      {B::BuiltinOperator_RELU6, {Kind::kOwn, 2, 3}},
      {B::BuiltinOperator_RSQRT, {Kind::kOwn, 2, 3}},
      {B::BuiltinOperator_SUM, {Kind::kOwn, 2, 0}},
      {B::BuiltinOperator_GELU, {Kind::kOwn, 2, 0}},
      {B::BuiltinOperator_SQUARED_DIFFERENCE, {Kind::kOwn, 2, 0}},
      {B::BuiltinOperator_EXP, {Kind::kOwn, 2, 0}},
      {B::BuiltinOperator_LOG, {Kind::kOwn, 2, 0}},
      {B::BuiltinOperator_ABS, {Kind::kOwn, 2, 0}},
      // HARD_SWISH is written as ADD, MUL, MUL (hard_swish below).
      {B::BuiltinOperator_HARD_SWISH, {Kind::kOwn, 1, 2}},
      {B::BuiltinOperator_LEAKY_RELU, {Kind::kOwn, 1, 2}},
      {B::BuiltinOperator_ELU, {Kind::kOwn, 1, 0}},
      {B::BuiltinOperator_BATCH_MATMUL, {Kind::kOwn, 2, 3, -1, true}},
  };
  return table;
}

// The output parameters a kernel fixes: LOGISTIC and SOFTMAX [0, 1), TANH [-1, 1),
// LOG_SOFTMAX (-16, 0] in int8; all at 1/32768 with 16-bit activations.
QParams fixed_params(Code code, bool int16) {
  if (int16) return {1.0f / 32768.0f, 0, true};
  switch (code) {
    case fb::BuiltinOperator_TANH:
      return {1.0f / 128.0f, 0};
    case fb::BuiltinOperator_LOG_SOFTMAX:
      return {16.0f / 256.0f, 127};
    default:
      return {1.0f / 256.0f, -128};
  }
}

std::optional<Rule> rule_for(int32_t code, bool int16 = false) {
  const auto it = forms().find(static_cast<Code>(code));
  if (it == forms().end()) return std::nullopt;
  const Forms& f = it->second;
  const int version = int16 ? f.int16 : f.int8;
  if (version == 0) return std::nullopt;
  QParams fixed{};
  if (f.kind == Kind::kFixed) fixed = fixed_params(static_cast<Code>(code), int16);
  return Rule{f.kind, version, f.channel_axis, fixed, f.symmetric_constants};
}

enum class Mode { kUntouched, kInt8, kFloat };

class Int8Pass {
 public:
  Int8Pass(ModelBuilder& m, const Int8Activations& q, const std::vector<std::string>& keep_float)
      : m_(m), q_(q), keep_(keep_float) {}

  Int8Result run(std::vector<int>& inputs, std::vector<int>& outputs,
                 ModelBuilder::Signature& signature) {
    const size_t n = m_.num_tensors();
    if (n != q_.tensors)
      throw TfliteError("int8: the calibration ranges describe a model of " +
                        std::to_string(q_.tensors) + " tensors, this one has " + std::to_string(n) +
                        " (the float file was written differently)");
    ranges_.assign(n, std::nullopt);
    for (const auto& [t, range] : q_.ranges) {
      if (t < 0 || static_cast<size_t>(t) >= n)
        throw TfliteError("int8: a calibration range names tensor " + std::to_string(t) +
                          ", not in the model");
      ranges_[static_cast<size_t>(t)] = range;
    }
    explicit_.assign(n, std::nullopt);
    for (const auto& [t, p] : q_.fixed) {
      if (t < 0 || static_cast<size_t>(t) >= n)
        throw TfliteError("int8: a model scale names tensor " + std::to_string(t) +
                          ", not in the model");
      explicit_[static_cast<size_t>(t)] = QParams{p.first, p.second, q_.int16};
    }
    for (const auto& [t, scales] : q_.kernel_scales) kernel_scales_[t] = scales;
    parent_.resize(n);
    std::iota(parent_.begin(), parent_.end(), 0);
    quantized_.assign(n, false);
    ops_ = m_.ops();
    decide();
    if (q_.io != IoType::kFloat32) {
      for (int t : inputs) mark_boundary(t);
      for (int t : outputs) mark_boundary(t);
    }
    assign_parameters();
    report();  // before renumbering: it names operators by their codes
    rewrite(inputs, outputs, signature);
    Int8Result result;
    result.tensor_map = m_.drop_unused(inputs, outputs, signature);
    result.warnings = std::move(warnings_);
    return result;
  }

 private:
  bool activation(int t) const {
    if (t < 0) return false;
    const TensorRec& r = m_.tensor(t);
    return r.type == fb::TensorType_FLOAT32 && r.buffer == 0 && !r.variable;
  }
  bool float_constant(int t) const {
    return t >= 0 && m_.tensor(t).type == fb::TensorType_FLOAT32 && m_.tensor(t).buffer != 0;
  }
  bool any_float(const OpRec& op) const {
    for (const auto* list : {&op.inputs, &op.outputs})
      for (int t : *list)
        if (t >= 0 && m_.tensor(t).type == fb::TensorType_FLOAT32) return true;
    return false;
  }
  int find(int t) {
    while (parent_[static_cast<size_t>(t)] != t) {
      parent_[static_cast<size_t>(t)] =
          parent_[static_cast<size_t>(parent_[static_cast<size_t>(t)])];
      t = parent_[static_cast<size_t>(t)];
    }
    return t;
  }
  void unite(int a, int b) { parent_[static_cast<size_t>(find(a))] = find(b); }

  bool kept_float(const OpRec& op) {
    const ModelBuilder::Origin* origin = m_.origin(op);
    if (!origin) return false;
    bool keep = false;
    for (const std::string& entry : keep_) {
      if (keeps_float(entry, origin->scope, origin->op)) {
        matched_.insert(entry);
        keep = true;
      }
    }
    return keep;
  }

  // Whether the op can run in int8 as written: every float tensor it touches is computed or
  // constant (no state), and a kernel op's kernel and bias are constants.
  bool expressible(const OpRec& op, const Rule& rule) const {
    for (const auto* list : {&op.inputs, &op.outputs})
      for (int t : *list)
        if (t >= 0 && m_.tensor(t).type == fb::TensorType_FLOAT32 && !activation(t) &&
            !float_constant(t))
          return false;
    for (int t : op.outputs)
      if (float_constant(t)) return false;
    if (rule.kind == Kind::kKernel) {
      if (op.inputs.size() < 2 || !activation(op.inputs[0]) || !float_constant(op.inputs[1]))
        return false;
      if (op.inputs.size() > 2 && op.inputs[2] >= 0 && !float_constant(op.inputs[2])) return false;
    }
    return true;
  }

  void decide() {
    modes_.assign(ops_.size(), Mode::kUntouched);
    for (size_t i = 0; i < ops_.size(); ++i) {
      const OpRec& op = ops_[i];
      if (!any_float(op)) continue;
      const auto rule = rule_for(m_.opcode(op).first, q_.int16);
      const bool keep = kept_float(op);
      const bool model_float = rule && q_.model_scales_only && !model_quantized(op, *rule);
      if (model_float) {
        modes_[i] = Mode::kFloat;  // what the model computes in float, it keeps in float
        continue;
      }
      if (rule && !keep && expressible(op, *rule)) {
        modes_[i] = Mode::kInt8;
        for (const auto* list : {&op.inputs, &op.outputs})
          for (int t : *list)
            if (activation(t)) quantized_[static_cast<size_t>(t)] = true;
        if (rule->kind == Kind::kTied) tie(op);
      } else {
        modes_[i] = Mode::kFloat;
        if (!keep) left_float_.push_back(i);
      }
    }
  }

  // An imported quantized model's op runs in int8 where the model gives its output a scale
  // (or the kernel fixes one, or ties it to an input the model gave one).
  bool model_quantized(const OpRec& op, const Rule& rule) const {
    if (rule.kind == Kind::kFixed) return true;
    auto has = [&](int t) { return explicit_[static_cast<size_t>(t)].has_value(); };
    bool outputs = true;
    for (int t : op.outputs)
      if (activation(t)) outputs &= has(t);
    if (outputs || rule.kind != Kind::kTied) return outputs;
    for (int t : op.inputs)
      if (activation(t) && has(t)) return true;
    return false;
  }

  void tie(const OpRec& op) {
    int first = -1;
    for (const auto* list : {&op.inputs, &op.outputs})
      for (int t : *list) {
        if (!activation(t)) continue;
        if (first < 0)
          first = t;
        else
          unite(t, first);
      }
  }

  void mark_boundary(int t) {
    if (activation(t)) quantized_[static_cast<size_t>(t)] = true;
  }

  void assign_parameters() {
    const size_t n = quantized_.size();
    std::vector<float> lo(n, std::numeric_limits<float>::infinity());
    std::vector<float> hi(n, -std::numeric_limits<float>::infinity());
    std::vector<std::optional<QParams>> fixed(n);
    std::vector<int> fixed_by(n, -1);
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (modes_[i] != Mode::kInt8) continue;
      const auto rule = rule_for(m_.opcode(ops_[i]).first, q_.int16);
      if (rule->kind != Kind::kFixed) continue;
      for (int t : ops_[i].outputs) {
        const auto root = static_cast<size_t>(find(t));
        if (fixed[root] && !(*fixed[root] == rule->fixed))
          throw TfliteError("int8: " + where(i) +
                            " needs an output scale other than another kernel's it is tied to");
        fixed[root] = rule->fixed;
        fixed_by[root] = static_cast<int>(i);
      }
    }
    // The model's own scales (an imported quantized model) hold for their whole tied group.
    for (size_t t = 0; t < n; ++t) {
      if (!quantized_[t] || !explicit_[t]) continue;
      const auto root = static_cast<size_t>(find(static_cast<int>(t)));
      if (!fixed[root]) fixed[root] = explicit_[t];
    }
    for (size_t t = 0; t < n; ++t) {
      if (!quantized_[t] || !ranges_[t]) continue;
      const auto root = static_cast<size_t>(find(static_cast<int>(t)));
      lo[root] = std::min(lo[root], ranges_[t]->first);
      hi[root] = std::max(hi[root], ranges_[t]->second);
    }
    // A constant a tied op passes on (an embedding table, a padding value, a concatenated
    // constant) is stored at the group's scale: the group's range must hold all of it, not
    // just the part calibration happened to read.
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (modes_[i] != Mode::kInt8 ||
          rule_for(m_.opcode(ops_[i]).first, q_.int16)->kind != Kind::kTied)
        continue;
      for (int t : ops_[i].inputs) {
        if (!float_constant(t)) continue;
        const auto root = static_cast<size_t>(find(ops_[i].outputs.at(0)));
        for (float v : floats_of(t)) {
          if (!std::isfinite(v)) continue;  // -inf padding stays the lowest step
          lo[root] = std::min(lo[root], v);
          hi[root] = std::max(hi[root], v);
        }
      }
    }
    std::vector<QParams> group(n);
    std::vector<bool> is_fixed(n, false);
    for (size_t root = 0; root < n; ++root) {
      if (fixed[root]) {
        // A tied tensor whose values the fixed scale cannot hold would be clipped silently.
        // (The model's own scales clip in PyTorch as well: those are its values.)
        const QParams p = *fixed[root];
        const bool kernels = fixed_by[root] >= 0;
        if (kernels &&
            (lo[root] < p.lowest() - 2 * p.scale || hi[root] > p.highest() + 2 * p.scale))
          throw TfliteError("int8: " + where(static_cast<size_t>(fixed_by[root])) +
                            " fixes a scale that tied values outside [" +
                            std::to_string(p.lowest()) + ", " + std::to_string(p.highest()) +
                            "] would be clipped to");
        group[root] = p;
        is_fixed[root] = true;
      } else if (lo[root] <= hi[root]) {
        group[root] = activation_params(lo[root], hi[root]);
      } else {
        group[root] = activation_params(0.0f, 0.0f);  // never computed: nothing reads it
      }
    }
    if (!q_.int16) widen_for_kernels(group, is_fixed, lo, hi);
    params_.assign(n, QParams{});
    for (size_t t = 0; t < n; ++t)
      if (quantized_[t]) params_[t] = group[static_cast<size_t>(find(static_cast<int>(t)))];
  }

  // XNNPACK (and the builtins' fixed-point rescaling) take an operator only while its
  // rescale factors stay within bounds: input x kernel scale over output scale below 256 for
  // convolutions and dense layers, each input's scale over the output's below 256 for
  // ADD / SUB, the inputs' product over the output's below 256 for MUL. A near-constant
  // output (a zero-initialised classifier) would break them and with them the whole model's
  // delegation; its range is widened instead, in operator order so inputs are settled first.
  void widen_for_kernels(std::vector<QParams>& group, const std::vector<bool>& is_fixed,
                         const std::vector<float>& lo, const std::vector<float>& hi) {
    constexpr float kMaxRescale = 255.0f;
    auto scale_of = [&](int t) { return group[static_cast<size_t>(find(t))].scale; };
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (modes_[i] != Mode::kInt8) continue;
      const OpRec& op = ops_[i];
      const auto code = static_cast<Code>(m_.opcode(op).first);
      const Rule rule = *rule_for(m_.opcode(op).first, q_.int16);
      float needed = 0.0f;
      std::vector<float> in;
      for (int t : op.inputs)
        if (activation(t)) in.push_back(scale_of(t));
      if (rule.kind == Kind::kKernel) {
        const std::vector<float>& kernel = channel_scales(op.inputs[1], rule.channel_axis);
        needed =
            scale_of(op.inputs[0]) * *std::max_element(kernel.begin(), kernel.end()) / kMaxRescale;
      } else if (code == fb::BuiltinOperator_ADD || code == fb::BuiltinOperator_SUB) {
        for (float s : in) needed = std::max(needed, s / kMaxRescale);
      } else if (code == fb::BuiltinOperator_MUL && in.size() == 2) {
        needed = in[0] * in[1] / kMaxRescale;
      }
      for (int t : op.outputs) {
        if (!activation(t)) continue;
        const auto root = static_cast<size_t>(find(t));
        if (is_fixed[root] || group[root].scale >= needed) continue;
        const float span = needed * 255.0f;
        const float a = std::min(lo[root], 0.0f), b = std::max(hi[root], 0.0f);
        // Widened around the observed range, keeping where zero sits in it.
        const float below = b - a > 0 ? span * (-a / (b - a)) : 0.0f;
        group[root] = asymmetric(-below, span - below);
      }
    }
  }

  QParams activation_params(float lo, float hi) const {
    return q_.int16 ? symmetric16(lo, hi) : asymmetric(lo, hi);
  }

  std::string where(size_t op_index) const {
    const OpRec& op = ops_[op_index];
    std::string text = fb::EnumNameBuiltinOperator(static_cast<Code>(m_.opcode(op).first));
    if (const ModelBuilder::Origin* origin = m_.origin(op))
      text +=
          " (" + origin->op + " at '" + (origin->scope.empty() ? "<root>" : origin->scope) + "')";
    return text;
  }

  void set_int8(int t, const QParams& p) {
    TensorRec& r = m_.mutable_tensor(t);
    r.type = p.type();
    r.scales = {p.scale};
    r.zero_points = {p.zero_point};
    r.quantized_dimension = 0;
  }

  int twin(int t, fb::TensorType type, const std::string& suffix) {
    const TensorRec source = m_.tensor(t);
    const int index =
        m_.add_tensor(type, Shape(source.shape.begin(), source.shape.end()), source.name + suffix);
    m_.mutable_tensor(index).signature = source.signature;
    return index;
  }

  std::vector<float> floats_of(int t) const {
    const TensorRec& r = m_.tensor(t);
    const BufferRec& rec = m_.buffer(r.buffer);
    std::vector<float> values(rec.size / sizeof(float));
    rec.fill(reinterpret_cast<uint8_t*>(values.data()));
    return values;
  }

  int int8_constant(int t, const QParams& p) {
    const auto key = std::make_tuple(t, p.scale, p.zero_point);
    if (auto it = constants_.find(key); it != constants_.end()) return it->second;
    const std::vector<float> values = floats_of(t);
    const TensorRec& source = m_.tensor(t);
    const int index = m_.add_owned_constant(p.type(), source.shape, quantized_bytes(values, p),
                                            source.name + (p.wide ? "/int16" : "/int8"));
    set_int8(index, p);
    constants_.emplace(key, index);
    return index;
  }

  static std::vector<uint8_t> quantized_bytes(const std::vector<float>& values, const QParams& p) {
    const size_t width = p.wide ? 2 : 1;
    std::vector<uint8_t> bytes(values.size() * width);
    for (size_t i = 0; i < values.size(); ++i) {
      const float q =
          std::clamp(std::nearbyint(values[i] / p.scale) + static_cast<float>(p.zero_point),
                     p.qmin(), p.qmax());
      if (p.wide) {
        const auto v = static_cast<int16_t>(q);
        std::memcpy(&bytes[i * 2], &v, 2);
      } else {
        const auto v = static_cast<int8_t>(q);
        std::memcpy(&bytes[i], &v, 1);
      }
    }
    return bytes;
  }

  // A conv or dense kernel's scales per channel along `axis`: the model's own (an imported
  // quantized model), else each channel's largest magnitude over 127, symmetric. Computed
  // once per kernel; `values`, when given, are the kernel's, already read.
  const std::vector<float>& channel_scales(int t, int axis,
                                           const std::vector<float>* values = nullptr) {
    auto [it, fresh] = kernel_scales_.try_emplace(t);
    std::vector<float>& scales = it->second;
    const TensorRec& source = m_.tensor(t);
    const auto channels = static_cast<size_t>(source.shape.at(static_cast<size_t>(axis)));
    if (!fresh) {
      if (scales.size() != channels)
        throw TfliteError("int8: the model gives " + std::to_string(scales.size()) +
                          " kernel scales for " + std::to_string(channels) + " channels ('" +
                          source.name + "')");
      return scales;
    }
    const std::vector<float> read = values ? std::vector<float>{} : floats_of(t);
    const std::vector<float>& v = values ? *values : read;
    const size_t inner = inner_size(source, axis);
    scales.assign(channels, 0.0f);
    for (size_t i = 0; i < v.size(); ++i)
      scales[i / inner % channels] = std::max(scales[i / inner % channels], std::fabs(v[i]));
    // An all-zero channel quantizes to zeros at any scale: it takes the largest other one
    // (1/127 when every channel is zero), which keeps its rescale factor like theirs.
    const float largest = *std::max_element(scales.begin(), scales.end());
    for (float& s : scales) s = (s > 0 ? s : largest > 0 ? largest : 1.0f) / 127.0f;
    return scales;
  }

  static size_t inner_size(const TensorRec& t, int axis) {
    size_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < t.shape.size(); ++d)
      inner *= static_cast<size_t>(t.shape[d]);
    return inner;
  }

  // A conv or dense kernel as INT8 at its channel scales; returns the tensor and the scales.
  // At the model's own scales each value is an integer multiple of its channel's, recovered
  // exactly (PyTorch's -128 included); computed ones keep every value within +-127.
  std::pair<int, std::vector<float>> kernel(int t, int axis) {
    const std::vector<float> values = floats_of(t);
    const std::vector<float> scales = channel_scales(t, axis, &values);
    const TensorRec& source = m_.tensor(t);
    const size_t inner = inner_size(source, axis), channels = scales.size();
    std::vector<uint8_t> bytes(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const float q = std::nearbyint(values[i] / scales[i / inner % channels]);
      const auto v = static_cast<int8_t>(std::clamp(q, -128.0f, 127.0f));
      std::memcpy(&bytes[i], &v, 1);
    }
    const int index = m_.add_owned_constant(fb::TensorType_INT8, source.shape, std::move(bytes),
                                            source.name + "/int8");
    TensorRec& r = m_.mutable_tensor(index);
    r.scales = scales;
    r.zero_points.assign(channels, 0);
    r.quantized_dimension = axis;
    return {index, scales};
  }

  // The bias at input scale x kernel scale per channel, zero point 0: INT32, or INT64 beside
  // 16-bit activations (the int16x8 kernels accumulate in 64 bits).
  int bias(int t, float input_scale, const std::vector<float>& kernel_scales) {
    const std::vector<float> values = floats_of(t);
    if (values.size() != kernel_scales.size())
      throw TfliteError("int8: a bias of " + std::to_string(values.size()) + " values for " +
                        std::to_string(kernel_scales.size()) + " output channels");
    std::vector<float> scales(values.size());
    const size_t width = q_.int16 ? 8 : 4;
    std::vector<uint8_t> bytes(values.size() * width);
    for (size_t c = 0; c < values.size(); ++c) {
      scales[c] = input_scale * kernel_scales[c];
      const double q = std::nearbyint(static_cast<double>(values[c]) / scales[c]);
      if (q_.int16) {
        const auto v = static_cast<int64_t>(std::clamp(q, -9.2e18, 9.2e18));
        std::memcpy(&bytes[c * 8], &v, 8);
      } else {
        const auto v = static_cast<int32_t>(std::clamp(q, -2147483647.0, 2147483647.0));
        std::memcpy(&bytes[c * 4], &v, 4);
      }
    }
    const TensorRec& source = m_.tensor(t);
    const int index =
        m_.add_owned_constant(q_.int16 ? fb::TensorType_INT64 : fb::TensorType_INT32, source.shape,
                              std::move(bytes), source.name + (q_.int16 ? "/int64" : "/int32"));
    TensorRec& r = m_.mutable_tensor(index);
    r.scales = std::move(scales);
    r.zero_points.assign(values.size(), 0);
    return index;
  }

  void quantize_operands(OpRec& op) {
    const Rule rule = *rule_for(m_.opcode(op).first, q_.int16);
    if (rule.kind == Kind::kKernel) {
      auto [weights, scales] = kernel(op.inputs[1], rule.channel_axis);
      const float input_scale = params_[static_cast<size_t>(op.inputs[0])].scale;
      if (op.inputs.size() > 2 && op.inputs[2] >= 0)
        op.inputs[2] = bias(op.inputs[2], input_scale, scales);
      op.inputs[1] = weights;
    }
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const int t = op.inputs[i];
      if (!float_constant(t)) continue;
      if (rule.kind == Kind::kTied) {
        // The tied group's parameters, through its output (an embedding table's GATHER has
        // no computed input).
        op.inputs[i] = int8_constant(t, params_[static_cast<size_t>(op.outputs.at(0))]);
      } else {
        const std::vector<float> values = floats_of(t);
        float lo = 0, hi = 0;
        for (float v : values) lo = std::min(lo, v), hi = std::max(hi, v);
        QParams p = activation_params(lo, hi);
        if (rule.symmetric_constants && !q_.int16)
          p = {std::max(std::max(-lo, hi), 1e-6f) / 127.0f, 0};
        op.inputs[i] = int8_constant(t, p);
      }
    }
    m_.set_version(op, std::max(m_.opcode(op).second, rule.version));
    if (q_.int16) any_scales_int16(op);
  }

  // 16-bit ADD and SUB assume power-of-two scales unless told otherwise: rebuilt with
  // pot_scale_int16 off, keeping their fused activation.
  void any_scales_int16(OpRec& op) {
    auto& fbb = m_.fbb();
    if (op.options_type == fb::BuiltinOptions_AddOptions) {
      const auto* old =
          flatbuffers::GetTemporaryPointer(fbb, flatbuffers::Offset<fb::AddOptions>(op.options.o));
      const auto act = old ? old->fused_activation_function() : fb::ActivationFunctionType_NONE;
      op.options = fb::CreateAddOptions(fbb, act, false).Union();
    } else if (op.options_type == fb::BuiltinOptions_SubOptions) {
      const auto* old =
          flatbuffers::GetTemporaryPointer(fbb, flatbuffers::Offset<fb::SubOptions>(op.options.o));
      const auto act = old ? old->fused_activation_function() : fb::ActivationFunctionType_NONE;
      op.options = fb::CreateSubOptions(fbb, act, false).Union();
    }
  }

  void rewrite(std::vector<int>& inputs, std::vector<int>& outputs,
               ModelBuilder::Signature& signature) {
    for (size_t t = 0; t < quantized_.size(); ++t)
      if (quantized_[t]) set_int8(static_cast<int>(t), params_[t]);
    std::vector<OpRec> out;
    auto replace_in_signature = [&](std::vector<std::pair<std::string, int>>& items, int from,
                                    int to) {
      for (auto& item : items)
        if (item.second == from) item.second = to;
    };
    for (int& t : inputs) {
      if (!quantized_[static_cast<size_t>(t)] || q_.io == IoType::kInt8) continue;
      const bool u8 = q_.io == IoType::kUInt8;
      const int outer =
          twin(t, u8 ? fb::TensorType_UINT8 : fb::TensorType_FLOAT32, u8 ? "/uint8" : "/float");
      if (u8) shifted_uint8(outer, params_[static_cast<size_t>(t)]);
      out.push_back(m_.make_op(fb::BuiltinOperator_QUANTIZE, quantize_version(), {outer}, {t}));
      replace_in_signature(signature.inputs, t, outer);
      t = outer;
    }
    std::map<int, int> dequantized;  // int8 tensor -> its float twin for float ops
    for (size_t i = 0; i < ops_.size(); ++i) {
      OpRec op = ops_[i];
      if (modes_[i] == Mode::kInt8) {
        if (static_cast<Code>(m_.opcode(op).first) == fb::BuiltinOperator_HARD_SWISH) {
          hard_swish(op, out);
          continue;
        }
        quantize_operands(op);
        out.push_back(std::move(op));
        continue;
      }
      if (modes_[i] == Mode::kUntouched) {
        out.push_back(std::move(op));
        continue;
      }
      for (int& t : op.inputs) {
        if (t < 0 || !quantized_[static_cast<size_t>(t)]) continue;
        auto [it, fresh] = dequantized.try_emplace(t, -1);
        if (fresh) {
          it->second = twin(t, fb::TensorType_FLOAT32, "/float");
          out.push_back(
              m_.make_op(fb::BuiltinOperator_DEQUANTIZE, dequantize_version(), {t}, {it->second}));
        }
        t = it->second;
      }
      std::vector<OpRec> after;
      for (int& t : op.outputs) {
        if (!quantized_[static_cast<size_t>(t)]) continue;
        const int inner = twin(t, fb::TensorType_FLOAT32, "/float");
        after.push_back(m_.make_op(fb::BuiltinOperator_QUANTIZE, quantize_version(), {inner}, {t}));
        t = inner;
      }
      out.push_back(std::move(op));
      for (OpRec& q : after) out.push_back(std::move(q));
    }
    for (int& t : outputs) {
      if (!quantized_[static_cast<size_t>(t)] || q_.io == IoType::kInt8) continue;
      const bool u8 = q_.io == IoType::kUInt8;
      const int outer =
          twin(t, u8 ? fb::TensorType_UINT8 : fb::TensorType_FLOAT32, u8 ? "/uint8" : "/float");
      if (u8) {
        shifted_uint8(outer, params_[static_cast<size_t>(t)]);
        out.push_back(m_.make_op(fb::BuiltinOperator_QUANTIZE, 1, {t}, {outer}));
      } else {
        out.push_back(
            m_.make_op(fb::BuiltinOperator_DEQUANTIZE, dequantize_version(), {t}, {outer}));
      }
      replace_in_signature(signature.outputs, t, outer);
      t = outer;
    }
    m_.ops() = std::move(out);
  }

  // XNNPACK has no int8 HARD_SWISH: each one left to the builtin kernel splits the delegated
  // graph in two (MobileNetV3 ran slower in int8 than in float). Written instead as
  // x * relu6(x + 3) * 1/6, three operators XNNPACK runs in int8.
  void hard_swish(const OpRec& op, std::vector<OpRec>& out) {
    const int x = op.inputs.at(0), y = op.outputs.at(0);
    const QParams& py = params_[static_cast<size_t>(y)];
    const int shifted = twin(x, py.type(), "/plus3_relu6");
    set_int8(shifted, activation_params(0.0f, 6.0f));
    const int product = twin(y, py.type(), "/times6");
    set_int8(product, activation_params(6.0f * py.lowest(), 6.0f * py.highest()));
    const int add_version = q_.int16 ? 3 : 2, mul_version = q_.int16 ? 4 : 2;
    OpRec add =
        m_.make_op(fb::BuiltinOperator_ADD, add_version, {x, scalar(3.0f, "three")}, {shifted});
    add.origin = op.origin;
    add.options_type = fb::BuiltinOptions_AddOptions;
    add.options =
        fb::CreateAddOptions(m_.fbb(), fb::ActivationFunctionType_RELU6, !q_.int16).Union();
    OpRec mul = m_.make_op(fb::BuiltinOperator_MUL, mul_version, {x, shifted}, {product});
    OpRec sixth = m_.make_op(fb::BuiltinOperator_MUL, mul_version,
                             {product, scalar(1.0f / 6.0f, "sixth")}, {y});
    for (OpRec* m : {&mul, &sixth}) {
      m->origin = op.origin;
      m->options_type = fb::BuiltinOptions_MulOptions;
      m->options = fb::CreateMulOptions(m_.fbb()).Union();
    }
    out.push_back(std::move(add));
    out.push_back(std::move(mul));
    out.push_back(std::move(sixth));
  }

  // A positive scalar constant over [0, value], in the activations' type.
  int scalar(float value, const std::string& name) {
    const QParams p = activation_params(0.0f, value);
    const int index = m_.add_owned_constant(p.type(), {}, quantized_bytes({value}, p), name);
    set_int8(index, p);
    return index;
  }

  int quantize_version() const { return q_.int16 ? 2 : 1; }
  int dequantize_version() const { return q_.int16 ? 3 : 2; }

  // UINT8 at the boundary: the int8 scale, the zero point moved up by 128.
  void shifted_uint8(int t, const QParams& p) {
    TensorRec& r = m_.mutable_tensor(t);
    r.scales = {p.scale};
    r.zero_points = {p.zero_point + 128};
  }

  void report() {
    if (!left_float_.empty()) {
      const std::string mode = q_.int16 ? "int16x8" : "int8";
      std::string text = mode + ": " + std::to_string(left_float_.size()) +
                         " operator(s) have no " + mode +
                         " form here and run in float32 between "
                         "DEQUANTIZE and QUANTIZE:";
      for (size_t k = 0; k < left_float_.size() && k < 8; ++k)
        text += " " + where(left_float_[k]) + ";";
      if (left_float_.size() > 8) text += " ...";
      warnings_.push_back(text);
    }
    for (const std::string& entry : keep_) {
      if (!matched_.count(entry))
        warnings_.push_back("keep_float entry '" + entry +
                            "' keeps nothing float: no operator is written for that module, "
                            "inside it, or that op");
    }
  }

  ModelBuilder& m_;
  const Int8Activations& q_;
  const std::vector<std::string>& keep_;
  std::vector<std::optional<std::pair<float, float>>> ranges_;
  std::vector<std::optional<QParams>> explicit_;     // the model's own activation scales
  std::map<int, std::vector<float>> kernel_scales_;  // the model's own kernel scales
  std::vector<int> parent_;
  std::vector<bool> quantized_;
  std::vector<QParams> params_;
  std::vector<OpRec> ops_;
  std::vector<Mode> modes_;
  std::vector<size_t> left_float_;
  std::set<std::string> matched_;
  std::map<std::tuple<int, float, int32_t>, int> constants_;
  std::vector<std::string> warnings_;
};

}  // namespace

Int8Result quantize_int8(ModelBuilder& m, const Int8Activations& q,
                         const std::vector<std::string>& keep_float, std::vector<int>& inputs,
                         std::vector<int>& outputs, ModelBuilder::Signature& signature) {
  return Int8Pass(m, q, keep_float).run(inputs, outputs, signature);
}

}  // namespace ferry::tflite
