// Padding modes beyond CONSTANT (docs/tf_ops.md `pad` -> TFLite builtins). REFLECT is
// MIRROR_PAD's REFLECT (version 1; the kernel takes float32, int32, int64, int8 and uint8),
// which is PyTorch's "reflect" (the edge element is not repeated). REPLICATE and CIRCULAR have
// no builtin: each padded axis in turn becomes static STRIDED_SLICEs of the tensor so far (its
// edge element, broadcast by BROADCAST_TO to the pad's width, for REPLICATE; the opposite end
// for CIRCULAR) joined by one CONCATENATION, so no GATHER is ever needed. Axes padded one
// after the other fill the corners as PyTorch does.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_edge_pad(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const std::string mode = n->attrs.get_string("mode");
  if (x->rank() > 5) fail(n, "STRIDED_SLICE and MIRROR_PAD take at most 5 dimensions here");
  if (x->dtype != DType::kFloat32 && x->dtype != DType::kInt32 && x->dtype != DType::kInt64)
    fail(n, mode + " padding takes float32, int32 or int64 tensors");
  const auto pads = n->attrs.get_ints("pads");
  const int64_t rank = static_cast<int64_t>(x->rank());
  auto& f = m_.fbb();
  const std::string& s = n->scope;
  if (mode == "REFLECT") {
    int paddings = m_.add_int32(to_i32(pads), {rank, 2}, s + "/paddings");
    add_op(fb::BuiltinOperator_MIRROR_PAD, {tensor(x), paddings}, {tensor(out)},
           fb::BuiltinOptions_MirrorPadOptions,
           fb::CreateMirrorPadOptions(f, fb::MirrorPadMode_REFLECT).Union());
    return;
  }
  if (mode != "REPLICATE" && mode != "CIRCULAR") fail(n, "padding mode '" + mode + "'");
  const bool replicate = mode == "REPLICATE";
  int64_t last = -1;
  for (int64_t a = 0; a < rank; ++a)
    if (pads[2 * a] || pads[2 * a + 1]) last = a;
  int cur = tensor(x);
  Shape shape = x->physical_shape();
  if (last < 0) {  // nothing to pad: a copy
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {cur, m_.add_int32(to_i32(shape), {rank}, s + "/shape")}, {tensor(out)});
    return;
  }
  auto vec = [&](const Shape& v, const std::string& what) {
    return m_.add_int32(to_i32(v), {rank}, s + "/" + what);
  };
  // The [begin, end) range of `axis` of the current tensor, then (REPLICATE) broadcast to
  // `width` along it.
  auto piece = [&](int64_t axis, int64_t begin, int64_t end, int64_t width, const char* tag) {
    Shape b(rank, 0), e = shape, piece_shape = shape;
    b[axis] = begin;
    e[axis] = end;
    piece_shape[axis] = end - begin;
    const std::string name = "_" + std::string(tag) + std::to_string(axis);
    int sliced = temp(x, piece_shape, name);
    add_op(fb::BuiltinOperator_STRIDED_SLICE,
           {cur, vec(b, "begin"), vec(e, "end"), vec(Shape(rank, 1), "strides")}, {sliced},
           fb::BuiltinOptions_StridedSliceOptions, fb::CreateStridedSliceOptions(f).Union());
    if (piece_shape[axis] == width) return sliced;
    piece_shape[axis] = width;
    int wide = temp(x, piece_shape, name + "_wide");
    add_op(fb::BuiltinOperator_BROADCAST_TO, {sliced, vec(piece_shape, "shape")}, {wide});
    return wide;
  };
  for (int64_t a = 0; a <= last; ++a) {
    const int64_t lo = pads[2 * a], hi = pads[2 * a + 1], size = shape[a];
    if (!lo && !hi) continue;
    std::vector<int32_t> parts;
    if (lo)
      parts.push_back(replicate ? piece(a, 0, 1, lo, "lo") : piece(a, size - lo, size, lo, "lo"));
    parts.push_back(cur);
    if (hi)
      parts.push_back(replicate ? piece(a, size - 1, size, hi, "hi") : piece(a, 0, hi, hi, "hi"));
    shape[a] = size + lo + hi;
    int next = a == last ? tensor(out) : temp(x, shape, "_padded" + std::to_string(a));
    add_op(fb::BuiltinOperator_CONCATENATION, parts, {next},
           fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(f, static_cast<int32_t>(a)).Union());
    cur = next;
  }
}

}  // namespace ferry::tflite::detail
