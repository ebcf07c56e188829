// Scans and reversals (docs/tf_ops.md -> TFLite builtins): cumsum -> CUMSUM (float32, int32,
// int64; an int32 scalar axis), reverse -> one REVERSE_V2 per axis (the kernel reverses a
// single axis per op; float32, int32, int64, int16, uint8 and bool tensors).
#include <algorithm>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_scan(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string& s = n->scope;
  auto type_is = [&](std::initializer_list<DType> types) {
    return std::find(types.begin(), types.end(), x->dtype) != types.end();
  };
  if (n->op == "cumsum") {
    if (!type_is({DType::kFloat32, DType::kInt32, DType::kInt64}))
      fail(n, "TFLite's CUMSUM has no " + std::string(dtype_name(x->dtype)) + " kernel");
    const auto axis = static_cast<int32_t>(n->attrs.get_int("axis"));
    add_op(fb::BuiltinOperator_CUMSUM, {tensor(x), m_.add_int32({axis}, {}, s + "/axis")},
           {tensor(out)}, fb::BuiltinOptions_CumsumOptions,
           fb::CreateCumsumOptions(m_.fbb(), false, false).Union());
    return;
  }
  if (!type_is({DType::kFloat32, DType::kInt32, DType::kInt64, DType::kInt16, DType::kUInt8,
                DType::kBool}))
    fail(n, "TFLite's REVERSE_V2 has no " + std::string(dtype_name(x->dtype)) + " kernel");
  const auto axes = n->attrs.get_ints("axes");
  if (axes.empty()) fail(n, "internal: a reverse over no axes");
  int in = tensor(x);
  for (size_t i = 0; i < axes.size(); ++i) {
    const bool last = i + 1 == axes.size();
    const int dst = last ? tensor(out) : temp(x, x->physical_shape(), "_rev" + std::to_string(i));
    const std::string axis = std::to_string(axes[i]);
    add_op(fb::BuiltinOperator_REVERSE_V2,
           {in, m_.add_int32({static_cast<int32_t>(axes[i])}, {1}, s + "/axis" + axis)}, {dst});
    in = dst;
  }
}

}  // namespace ferry::tflite::detail
