// Elementwise math beyond the CNN set (docs/tf_ops.md -> TFLite builtins): unary functions,
// activations with a parameter, binary arithmetic and comparisons, where, cast and
// broadcast_to. Versions come from op_version() (the format's rules over the tensors' types and
// ranks: SUB 3 / DIV 2 / MAXIMUM 3 when they broadcast above 4-D, ADD 4 / MUL 5 for int64, ...).
// The element types accepted per op are those the LiteRT kernels implement; anything else is
// refused here rather than left to fail when the interpreter prepares the model.
#include <algorithm>
#include <initializer_list>

#include "tflite/op_versions.h"
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

using Op = fb::BuiltinOperator;

struct Mapping {
  const char* op;
  Op code;
  std::initializer_list<DType> types;
};

constexpr auto kF32 = {DType::kFloat32};
constexpr auto kNumeric = {DType::kFloat32, DType::kInt32, DType::kInt64};

const Mapping kUnary[] = {
    {"exp", fb::BuiltinOperator_EXP, kF32},
    {"log", fb::BuiltinOperator_LOG, kF32},
    {"sqrt", fb::BuiltinOperator_SQRT, kF32},
    {"rsqrt", fb::BuiltinOperator_RSQRT, kF32},
    {"neg", fb::BuiltinOperator_NEG, kNumeric},
    {"abs", fb::BuiltinOperator_ABS, {DType::kFloat32, DType::kInt32}},
    {"floor", fb::BuiltinOperator_FLOOR, kF32},
    {"ceil", fb::BuiltinOperator_CEIL, kF32},
    // ROUND rounds half to even, as torch.round does.
    {"round", fb::BuiltinOperator_ROUND, kF32},
    {"sin", fb::BuiltinOperator_SIN, kF32},
    {"cos", fb::BuiltinOperator_COS, kF32},
    {"logical_not", fb::BuiltinOperator_LOGICAL_NOT, {DType::kBool}},
};

const Mapping kBinary[] = {
    {"add", fb::BuiltinOperator_ADD, kNumeric},
    {"sub", fb::BuiltinOperator_SUB, kNumeric},
    {"mul", fb::BuiltinOperator_MUL, kNumeric},
    {"div", fb::BuiltinOperator_DIV, kF32},
    {"pow", fb::BuiltinOperator_POW, {DType::kFloat32, DType::kInt32}},
    {"maximum", fb::BuiltinOperator_MAXIMUM, kNumeric},
    {"minimum", fb::BuiltinOperator_MINIMUM, kNumeric},
    {"equal",
     fb::BuiltinOperator_EQUAL,
     {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBool}},
    {"not_equal",
     fb::BuiltinOperator_NOT_EQUAL,
     {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBool}},
    {"less", fb::BuiltinOperator_LESS, kNumeric},
    {"less_equal", fb::BuiltinOperator_LESS_EQUAL, kNumeric},
    {"greater", fb::BuiltinOperator_GREATER, kNumeric},
    {"greater_equal", fb::BuiltinOperator_GREATER_EQUAL, kNumeric},
    {"logical_and", fb::BuiltinOperator_LOGICAL_AND, {DType::kBool}},
    {"logical_or", fb::BuiltinOperator_LOGICAL_OR, {DType::kBool}},
    // The divisor's sign, as torch.remainder (fmod, then + divisor where the signs differ).
    {"floor_mod", fb::BuiltinOperator_FLOOR_MOD, kNumeric},
};

template <size_t N>
const Mapping* find(const Mapping (&table)[N], const std::string& op) {
  for (const Mapping& m : table)
    if (op == m.op) return &m;
  return nullptr;
}

bool one_of(DType d, std::initializer_list<DType> types) {
  return std::find(types.begin(), types.end(), d) != types.end();
}

// Abramowitz & Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x)
// for x >= 0, odd in x; absolute error below 1.5e-7.
constexpr float kErfP = 0.3275911f;
constexpr float kErfA[] = {0.254829592f, -0.284496736f, 1.421413741f, -1.453152027f, 1.061405429f};

}  // namespace

void Writer::add_op(fb::BuiltinOperator code, std::vector<int32_t> in, std::vector<int32_t> out,
                    fb::BuiltinOptions options_type, flatbuffers::Offset<void> options) {
  const int version = op_version(code, m_, in, out);
  m_.add_op(code, version, std::move(in), std::move(out), options_type, options);
}

void Writer::emit_math(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string& op = n->op;
  const Shape xs = x->physical_shape();
  auto& f = m_.fbb();
  if (op == "abs" && x->dtype == DType::kInt64) {
    // ABS has no int64 kernel (T5's relative positions at free sizes): x < 0 ? -x : x.
    const std::string name = "tmp" + std::to_string(x->id) + "_abs";
    const int negative = m_.add_tensor(fb::TensorType_BOOL, xs, name + "_negative");
    const int negated = m_.add_tensor(fb::TensorType_INT64, xs, name + "_negated");
    const int64_t zero = 0;
    add_op(fb::BuiltinOperator_LESS,
           {tensor(x), m_.add_constant(fb::TensorType_INT64, {}, &zero, sizeof zero, name + "_0")},
           {negative});
    add_op(fb::BuiltinOperator_NEG, {tensor(x)}, {negated});
    return add_op(fb::BuiltinOperator_SELECT_V2, {negative, negated, tensor(x)}, {tensor(out)});
  }
  if (const Mapping* u = find(kUnary, op)) {
    if (!one_of(x->dtype, u->types))
      fail(n,
           std::string("TFLite's kernel has no ") + std::string(dtype_name(x->dtype)) + " version");
    return add_op(u->code, {tensor(x)}, {tensor(out)});
  }
  if (x->dtype != DType::kFloat32) fail(n, "only float32 is supported");
  int steps = 0;
  auto next = [&](fb::TensorType type = fb::TensorType_FLOAT32) {
    return m_.add_tensor(type, xs,
                         "tmp" + std::to_string(x->id) + "_" + op + std::to_string(steps++));
  };
  auto scalar = [&](float v, const char* what) {
    return m_.add_float_scalar(v, n->scope + "/" + op + "/" + what);
  };
  auto unary = [&](Op code, int in, int dst = -1) {
    if (dst < 0) dst = next();
    add_op(code, {in}, {dst});
    return dst;
  };
  auto binary = [&](Op code, int l, int r, int dst = -1) {
    if (dst < 0) dst = next();
    switch (code) {
      case fb::BuiltinOperator_ADD:
        add_op(code, {l, r}, {dst}, fb::BuiltinOptions_AddOptions, fb::CreateAddOptions(f).Union());
        break;
      case fb::BuiltinOperator_SUB:
        add_op(code, {l, r}, {dst}, fb::BuiltinOptions_SubOptions, fb::CreateSubOptions(f).Union());
        break;
      case fb::BuiltinOperator_MUL:
        add_op(code, {l, r}, {dst}, fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(f).Union());
        break;
      case fb::BuiltinOperator_DIV:
        add_op(code, {l, r}, {dst}, fb::BuiltinOptions_DivOptions, fb::CreateDivOptions(f).Union());
        break;
      default:
        add_op(code, {l, r}, {dst});
    }
    return dst;
  };
  const int in = tensor(x);
  if (op == "leaky_relu") {
    auto alpha = static_cast<float>(n->attrs.get_float("alpha"));
    add_op(fb::BuiltinOperator_LEAKY_RELU, {in}, {tensor(out)}, fb::BuiltinOptions_LeakyReluOptions,
           fb::CreateLeakyReluOptions(f, alpha).Union());
  } else if (op == "elu") {
    // ELU's alpha is fixed at 1 (expm1 below zero); another alpha scales the negative part:
    // relu(x) + alpha * min(elu(x), 0), exact since one of the two terms is zero.
    const double alpha = n->attrs.has("alpha") ? n->attrs.get_float("alpha") : 1.0;
    if (alpha == 1.0) {
      unary(fb::BuiltinOperator_ELU, in, tensor(out));
    } else {
      int neg = binary(fb::BuiltinOperator_MINIMUM, unary(fb::BuiltinOperator_ELU, in),
                       scalar(0.0f, "zero"));
      int scaled = binary(fb::BuiltinOperator_MUL, neg, scalar(static_cast<float>(alpha), "alpha"));
      binary(fb::BuiltinOperator_ADD, unary(fb::BuiltinOperator_RELU, in), scaled, tensor(out));
    }
  } else if (op == "erf") {
    // No builtin: the A&S approximation above, evaluated in float32 (absolute error 5.3e-7
    // measured over [-6, 6]; the cancellation in 1 - poly * exp dominates near 0).
    int a = unary(fb::BuiltinOperator_ABS, in);
    int t =
        binary(fb::BuiltinOperator_DIV, scalar(1.0f, "one"),
               binary(fb::BuiltinOperator_ADD,
                      binary(fb::BuiltinOperator_MUL, a, scalar(kErfP, "p")), scalar(1.0f, "one")));
    int poly = binary(fb::BuiltinOperator_MUL, t, scalar(kErfA[4], "a5"));
    for (int i = 3; i >= 0; --i) {
      const std::string name = "a" + std::to_string(i + 1);
      poly = binary(fb::BuiltinOperator_MUL,
                    binary(fb::BuiltinOperator_ADD, poly, scalar(kErfA[i], name.c_str())), t);
    }
    int gauss = unary(fb::BuiltinOperator_EXP,
                      unary(fb::BuiltinOperator_NEG, binary(fb::BuiltinOperator_MUL, a, a)));
    int positive = binary(fb::BuiltinOperator_SUB, scalar(1.0f, "one"),
                          binary(fb::BuiltinOperator_MUL, poly, gauss));
    int negative = next(fb::TensorType_BOOL);
    add_op(fb::BuiltinOperator_LESS, {in, scalar(0.0f, "zero")}, {negative});
    add_op(fb::BuiltinOperator_SELECT_V2,
           {negative, unary(fb::BuiltinOperator_NEG, positive), positive}, {tensor(out)});
  } else {
    fail(n, "this op is not supported by the TFLite writer yet");
  }
}

void Writer::emit_elementwise(const Node* n) {
  const std::string& op = n->op;
  const Value* out = n->outputs[0];
  auto& f = m_.fbb();
  if (op == "where") {
    const Value *cond = n->inputs[0], *a = n->inputs[1], *b = n->inputs[2];
    if (cond->dtype != DType::kBool) fail(n, "the condition must be bool");
    if (a->dtype != b->dtype ||
        !one_of(a->dtype, {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBool}))
      fail(n, "SELECT_V2 takes two operands of one type among float32, int32, int64, bool");
    return add_op(fb::BuiltinOperator_SELECT_V2, {tensor(cond), tensor(a), tensor(b)},
                  {tensor(out)});
  }
  const Value *x = n->inputs[0], *y = n->inputs[1];
  if (x->dtype != y->dtype)
    fail(n, "operands of different types (" + std::string(dtype_name(x->dtype)) + ", " +
                std::string(dtype_name(y->dtype)) + ")");
  if (op == "floor_div") {
    if (x->dtype == DType::kInt32)
      return add_op(fb::BuiltinOperator_FLOOR_DIV, {tensor(x), tensor(y)}, {tensor(out)});
    if (x->dtype != DType::kFloat32)
      fail(n, "TFLite's FLOOR_DIV has no " + std::string(dtype_name(x->dtype)) + " kernel");
    // FLOOR_DIV computes floor(a / b), which is one too large where a / b rounds up onto an
    // integer (1 // 0.1 is 9 in PyTorch, 10 there), and it stops the interpreter on a zero
    // divisor. PyTorch takes the quotient from the remainder instead: round((a - mod) / b)
    // with mod = a floor-mod b, and a / b for b == 0.
    const int a = tensor(x), b = tensor(y), dst = tensor(out);
    const Shape os = out->physical_shape();
    auto tmp = [&](const char* suffix) { return temp(out, os, suffix); };
    int mod = tmp("_mod"), multiple = tmp("_multiple"), quotient = tmp("_quotient");
    add_op(fb::BuiltinOperator_FLOOR_MOD, {a, b}, {mod});
    add_op(fb::BuiltinOperator_SUB, {a, mod}, {multiple}, fb::BuiltinOptions_SubOptions,
           fb::CreateSubOptions(f).Union());
    add_op(fb::BuiltinOperator_DIV, {multiple, b}, {quotient}, fb::BuiltinOptions_DivOptions,
           fb::CreateDivOptions(f).Union());
    bool nonzero_divisor = y->is_constant();
    if (nonzero_divisor) {
      const float* p = y->constant->as<float>();
      nonzero_divisor = std::none_of(p, p + y->constant->size(), [](float v) { return v == 0; });
    }
    if (nonzero_divisor) return add_op(fb::BuiltinOperator_ROUND, {quotient}, {dst});
    int rounded = tmp("_rounded"), direct = tmp("_direct");
    int zero = m_.add_tensor(fb::TensorType_BOOL, y->physical_shape(),
                             "tmp" + std::to_string(out->id) + "_zero_divisor");
    add_op(fb::BuiltinOperator_ROUND, {quotient}, {rounded});
    add_op(fb::BuiltinOperator_EQUAL, {b, m_.add_float_scalar(0.0f, n->scope + "/zero")}, {zero});
    add_op(fb::BuiltinOperator_DIV, {a, b}, {direct}, fb::BuiltinOptions_DivOptions,
           fb::CreateDivOptions(f).Union());
    return add_op(fb::BuiltinOperator_SELECT_V2, {zero, direct, rounded}, {dst});
  }
  const Mapping* m = find(kBinary, op);
  if (!m) fail(n, "this op is not supported by the TFLite writer yet");
  if (!one_of(x->dtype, m->types))
    fail(n,
         std::string("TFLite's kernel has no ") + std::string(dtype_name(x->dtype)) + " version");
  const int a = tensor(x), b = tensor(y);
  Act act = fb::ActivationFunctionType_NONE;
  switch (m->code) {
    case fb::BuiltinOperator_ADD:
      act = fuse_activation(out, m->code);
      return add_op(m->code, {a, b}, {tensor(out)}, fb::BuiltinOptions_AddOptions,
                    fb::CreateAddOptions(f, act).Union());
    case fb::BuiltinOperator_SUB:
      act = fuse_activation(out, m->code);
      return add_op(m->code, {a, b}, {tensor(out)}, fb::BuiltinOptions_SubOptions,
                    fb::CreateSubOptions(f, act).Union());
    case fb::BuiltinOperator_MUL:
      act = fuse_activation(out, m->code);
      return add_op(m->code, {a, b}, {tensor(out)}, fb::BuiltinOptions_MulOptions,
                    fb::CreateMulOptions(f, act).Union());
    case fb::BuiltinOperator_DIV:
      act = fuse_activation(out, m->code);
      return add_op(m->code, {a, b}, {tensor(out)}, fb::BuiltinOptions_DivOptions,
                    fb::CreateDivOptions(f, act).Union());
    default:
      return add_op(m->code, {a, b}, {tensor(out)});
  }
}

// ATAN2's kernel takes two float32 operands of one shape (no broadcasting): an operand of
// another shape is broadcast to the output's first.
void Writer::emit_atan2(const Node* n) {
  const Value *y = n->inputs[0], *x = n->inputs[1], *out = n->outputs[0];
  if (y->dtype != DType::kFloat32 || x->dtype != DType::kFloat32)
    fail(n, "TFLite's ATAN2 kernel is float32 only here");
  const Shape os = out->physical_shape();
  auto full = [&](const Value* v, const char* suffix) {
    if (v->physical_shape() == os) return tensor(v);
    int b = temp(out, os, suffix);
    add_op(fb::BuiltinOperator_BROADCAST_TO,
           {tensor(v),
            m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, n->scope + "/atan2_shape")},
           {b});
    return b;
  };
  const int a = full(y, "_y"), b = full(x, "_x");
  add_op(fb::BuiltinOperator_ATAN2, {a, b}, {tensor(out)});
}

void Writer::emit_cast(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  for (const Value* v : {x, out})
    if (v->dtype == DType::kBFloat16) fail(n, "TFLite has no bfloat16 tensors");
  const int in = tensor(x), dst = tensor(out);
  auto opts = fb::CreateCastOptions(m_.fbb(), m_.tensor(in).type, m_.tensor(dst).type);
  add_op(fb::BuiltinOperator_CAST, {in}, {dst}, fb::BuiltinOptions_CastOptions, opts.Union());
}

}  // namespace ferry::tflite::detail
