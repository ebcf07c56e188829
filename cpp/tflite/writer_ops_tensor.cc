// Reductions, broadcast_to and slice_update (docs/tf_ops.md -> TFLite builtins). Versions come
// from op_version(); the element types accepted are those the LiteRT kernels implement.
#include <algorithm>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

bool numeric(DType d) { return d == DType::kFloat32 || d == DType::kInt32 || d == DType::kInt64; }

}  // namespace

void Writer::emit_reduce(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string& op = n->op;
  fb::BuiltinOperator code = op == "mean"  ? fb::BuiltinOperator_MEAN
                             : op == "sum" ? fb::BuiltinOperator_SUM
                             : op == "max" ? fb::BuiltinOperator_REDUCE_MAX
                             : op == "min" ? fb::BuiltinOperator_REDUCE_MIN
                                           : fb::BuiltinOperator_REDUCE_PROD;
  // any / all reach here as bool max / min: REDUCE_ANY / REDUCE_ALL (bool only).
  const bool logical = x->dtype == DType::kBool && (op == "max" || op == "min");
  if (logical) code = op == "max" ? fb::BuiltinOperator_REDUCE_ANY : fb::BuiltinOperator_REDUCE_ALL;
  if (!logical && (op == "mean" ? x->dtype != DType::kFloat32 : !numeric(x->dtype)))
    fail(n, "TFLite's reduction kernels have no " + std::string(dtype_name(x->dtype)) +
                " version here");
  const int64_t rank = static_cast<int64_t>(x->rank());
  auto axes = n->attrs.get_ints("axes");
  for (auto& a : axes)
    if (a < 0) a += rank;
  const int in = tensor(x), dst = tensor(out);
  const std::string& s = n->scope;
  if (axes.empty()) {  // reduces nothing: a copy (an empty axes tensor would have no buffer)
    const Shape os = out->physical_shape();
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {in, m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, s + "/shape")},
              {dst});
    return;
  }
  int ax = m_.add_int32(to_i32(axes), {static_cast<int64_t>(axes.size())}, s + "/axes");
  add_op(code, {in, ax}, {dst}, fb::BuiltinOptions_ReducerOptions,
         fb::CreateReducerOptions(m_.fbb(), n->attrs.get_bool("keepdims")).Union());
}

void Writer::emit_broadcast_to(const Node* n) {
  const Value* out = n->outputs[0];
  const Shape os = out->physical_shape();
  int shape = m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, n->scope + "/shape");
  add_op(fb::BuiltinOperator_BROADCAST_TO, {tensor(n->inputs[0]), shape}, {tensor(out)});
}

// Contiguous regions: DYNAMIC_UPDATE_SLICE at constant start indices. Strided ones have no
// builtin: the update is spread to x's extent along each partly written axis by GATHER (each
// position takes the update element at or before it), then SELECT_V2 keeps it only at the
// written positions, under a constant mask that broadcasts over the fully written axes.
void Writer::emit_slice_update(const Node* n) {
  const Value *x = n->inputs[0], *u = n->inputs[1], *out = n->outputs[0];
  if (x->dtype != u->dtype || !(numeric(x->dtype) || x->dtype == DType::kBool))
    fail(n, "slice_update takes float32, int32, int64 or bool tensors of one type");
  const auto begin = n->attrs.get_ints("begin"), end = n->attrs.get_ints("end"),
             strides = n->attrs.get_ints("strides");
  const Shape xs = x->physical_shape(), us = u->physical_shape();
  const size_t rank = xs.size();
  if (begin.size() != rank || end.size() != rank || strides.size() != rank || us.size() != rank)
    fail(n, "begin, end, strides and the update must cover every axis");
  for (size_t d = 0; d < rank; ++d)
    if (strides[d] <= 0 ||
        us[d] != std::max<int64_t>(0, (end[d] - begin[d] + strides[d] - 1) / strides[d]))
      fail(n, "the update's shape does not match the region");
  const std::string& s = n->scope;
  const int in = tensor(x), dst = tensor(out);
  if (std::find(us.begin(), us.end(), 0) != us.end()) {  // nothing is written: a copy
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {in, m_.add_int32(to_i32(xs), {static_cast<int64_t>(rank)}, s + "/shape")}, {dst});
    return;
  }
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
