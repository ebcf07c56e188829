#include "tflite/op_versions.h"

#include <algorithm>

namespace ferry::tflite {
namespace {

struct Signature {
  std::vector<const TensorRec*> in, out;

  fb::TensorType in_type(size_t i) const {
    return i < in.size() && in[i] ? in[i]->type : fb::TensorType_FLOAT32;
  }
  fb::TensorType out_type(size_t i) const {
    return i < out.size() && out[i] ? out[i]->type : fb::TensorType_FLOAT32;
  }
  bool in_is(fb::TensorType t) const { return in_type(0) == t; }
  size_t max_in_rank() const {
    size_t r = 0;
    for (const TensorRec* t : in)
      if (t) r = std::max(r, t->shape.size());
    return r;
  }
  // Binary ops whose kernels broadcast in more than 4 dims only from a later version.
  bool broadcasts_above_4d() const {
    return in.size() >= 2 && in[0] && in[1] && in[0]->shape != in[1]->shape && max_in_rank() > 4;
  }
};

int int8_int16(const Signature& s, int int8, int int16) {
  if (s.in_is(fb::TensorType_INT16)) return int16;
  if (s.in_is(fb::TensorType_INT8)) return int8;
  return 1;
}

int cast_version(const Signature& s) {
  auto either = [&](fb::TensorType t) { return s.in_type(0) == t || s.out_type(0) == t; };
  if (either(fb::TensorType_FLOAT64) || either(fb::TensorType_FLOAT16)) return 5;
  if (either(fb::TensorType_INT8)) return 3;
  return 1;
}

}  // namespace

int op_version(fb::BuiltinOperator code, const ModelBuilder& m, const std::vector<int32_t>& inputs,
               const std::vector<int32_t>& outputs) {
  Signature s;
  for (int32_t i : inputs) s.in.push_back(i < 0 ? nullptr : &m.tensor(i));
  for (int32_t i : outputs) s.out.push_back(&m.tensor(i));
  const size_t rank = s.in.empty() || !s.in[0] ? 0 : s.in[0]->shape.size();
  switch (code) {
    case fb::BuiltinOperator_ADD:
      if (s.in_is(fb::TensorType_INT16)) return 5;
      if (s.in_is(fb::TensorType_INT64)) return 4;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_SUB:
      if (s.in_is(fb::TensorType_INT16)) return 5;
      if (s.in_is(fb::TensorType_INT64)) return 4;
      if (s.broadcasts_above_4d()) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_MUL:
      if (s.in_is(fb::TensorType_INT16)) return 7;
      if (s.in_is(fb::TensorType_INT64)) return 5;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_DIV:
      return s.broadcasts_above_4d() ? 2 : 1;
    case fb::BuiltinOperator_MAXIMUM:
    case fb::BuiltinOperator_MINIMUM:
      if (s.in_is(fb::TensorType_INT16)) return 4;
      if (s.broadcasts_above_4d()) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_FLOOR_DIV:
      if (s.in_is(fb::TensorType_INT16) || s.in_is(fb::TensorType_INT8)) return 3;
      return s.in_is(fb::TensorType_FLOAT32) ? 2 : 1;
    case fb::BuiltinOperator_EQUAL:
      return int8_int16(s, 2, 4);
    case fb::BuiltinOperator_LESS:
    case fb::BuiltinOperator_GREATER_EQUAL:
    case fb::BuiltinOperator_SOFTMAX:
    case fb::BuiltinOperator_MEAN:
    case fb::BuiltinOperator_REDUCE_MAX:
    case fb::BuiltinOperator_REDUCE_MIN:
    case fb::BuiltinOperator_RELU6:
    case fb::BuiltinOperator_RSQRT:
    case fb::BuiltinOperator_TANH:
    case fb::BuiltinOperator_LOGISTIC:
    case fb::BuiltinOperator_RELU:
      return int8_int16(s, 2, 3);
    case fb::BuiltinOperator_NOT_EQUAL:
    case fb::BuiltinOperator_SPACE_TO_DEPTH:
    case fb::BuiltinOperator_DEPTH_TO_SPACE:
    case fb::BuiltinOperator_GREATER:
    case fb::BuiltinOperator_LESS_EQUAL:
    case fb::BuiltinOperator_SUM:
    case fb::BuiltinOperator_LOG_SOFTMAX:
    case fb::BuiltinOperator_SQUARED_DIFFERENCE:
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_EXP:
    case fb::BuiltinOperator_LOG:
    case fb::BuiltinOperator_REDUCE_PROD:
      return int8_int16(s, 2, 2);
    case fb::BuiltinOperator_LEAKY_RELU:
      return s.in_is(fb::TensorType_INT16) ? 2 : 1;
    case fb::BuiltinOperator_ABS:
      if (s.in_is(fb::TensorType_INT32)) return 5;
      if (s.in_is(fb::TensorType_INT16)) return 4;
      return s.in_is(fb::TensorType_INT8) || s.in_is(fb::TensorType_UINT8) ? 2 : 1;
    case fb::BuiltinOperator_CAST:
      return cast_version(s);
    case fb::BuiltinOperator_BROADCAST_TO:
      // Version 1 was withdrawn (the code was renumbered): 2 is the first usable one.
      return s.in_is(fb::TensorType_INT8) || s.in_is(fb::TensorType_INT16) ? 3 : 2;
    case fb::BuiltinOperator_DYNAMIC_UPDATE_SLICE:
      if (s.in_is(fb::TensorType_INT16)) return 4;
      if (s.in_is(fb::TensorType_FLOAT16)) return 3;
      return s.in_type(2) == fb::TensorType_INT64 ? 2 : 1;
    case fb::BuiltinOperator_GATHER:
      if (s.in_type(1) == fb::TensorType_INT16) return 6;
      if (s.in_is(fb::TensorType_INT16)) return 4;
      if (s.in_is(fb::TensorType_BOOL)) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_TRANSPOSE:
      if (rank > 5) return 6;
      if (s.in_is(fb::TensorType_INT16)) return 5;
      if (rank > 4) return 4;
      if (s.in_is(fb::TensorType_BOOL)) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_STRIDED_SLICE:
      if (rank > 4) return 4;
      if (s.in_is(fb::TensorType_BOOL)) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_PAD:
    case fb::BuiltinOperator_PADV2:
      if (s.in_is(fb::TensorType_BOOL)) return 5;
      if (rank > 4) return 4;
      return int8_int16(s, 2, 3);
    case fb::BuiltinOperator_CONCATENATION:
      return int8_int16(s, 2, 3);
    case fb::BuiltinOperator_REVERSE_V2:
      if (s.in_is(fb::TensorType_INT8)) return 3;
      return s.in_is(fb::TensorType_BOOL) ? 2 : 1;
    case fb::BuiltinOperator_TOPK_V2:
      if (s.in_is(fb::TensorType_INT16)) return 3;
      return s.in_is(fb::TensorType_INT8) ? 2 : 1;
    case fb::BuiltinOperator_SCATTER_ND:  // one version for every type it takes
      return 1;
    default:
      return 1;
  }
}

}  // namespace ferry::tflite
