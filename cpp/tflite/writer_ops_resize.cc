// `resize` (docs/tf_ops.md) -> TFLite builtins. RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR
// (version 1, or 3 with half_pixel_centers) where they sample exactly where ATen does: 2-D,
// no `scale` or `antialias` attribute, float32, bilinear or nearest (not align_corners).
// Everything else is separable: per resized axis, GATHER with constant indices along that
// axis, and for bilinear/bicubic a weighted sum of the 2 or 4 gathered taps (antialias: as
// many as the stretched filter covers) with constant weights broadcast along it (MUL, ADD).
// Indices and weights come from resample_taps (cpp/ir/resample.cc), the numbers the lowering
// and the Keras back end use, in ATen's float32 arithmetic, so nearest picks ATen's row to
// the bit. GATHER, MUL and ADD are version 1 for float32 data and int32 indices (GATHER of
// other nearest types: op_version()). A constant interpolation matrix per axis (BATCH_MATMUL)
// is as exact; in LiteRT (XNNPACK, one thread) on 1x64x56x56 it tied with the gather for
// bicubic x2 and took twice as long for bilinear x1.7, and its cost per output grows with the
// input size, the gather's does not.
#include <algorithm>

#include "ir/resample.h"
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {
namespace {

// Element types LiteRT's GATHER kernel copies (gather.cc): a nearest resize of these needs no
// arithmetic.
bool gatherable(DType d) {
  return d == DType::kFloat32 || d == DType::kInt32 || d == DType::kInt64 || d == DType::kInt16 ||
         d == DType::kInt8 || d == DType::kUInt8 || d == DType::kBool;
}

// The taps with a non-zero weight somewhere along the axis (bicubic at whole-number positions
// reads only one of its four, bilinear between equal sizes only one of two).
std::vector<int64_t> live_taps(const ResampleTaps& t) {
  const int64_t out = static_cast<int64_t>(t.index.size()) / t.taps;
  std::vector<int64_t> live;
  for (int64_t k = 0; k < t.taps; ++k)
    for (int64_t d = 0; d < out; ++d)
      if (t.weight[d * t.taps + k] != 0) {
        live.push_back(k);
        break;
      }
  return live;
}

}  // namespace

void Writer::emit_resize(const Node* n) {
  const Value *x = n->inputs[0], *out = n->outputs[0];
  const int64_t rank = static_cast<int64_t>(x->rank());
  if (rank != 4 && rank != 5) fail(n, "resizing takes [N, H, W, C] or [N, D, H, W, C]");
  const std::string method = n->attrs.get_string("method");
  const std::string coordinate = n->attrs.get_string("coordinate");
  const bool align = coordinate == "align_corners", half = coordinate == "half_pixel";
  if (!align && !half && coordinate != "asymmetric")
    fail(n, "resize coordinate '" + coordinate + "' is not supported");
  if (method != "nearest" && method != "bilinear" && method != "bicubic")
    fail(n, "resize method '" + method + "' is not supported");
  if (method == "nearest" && align) fail(n, "nearest resizing has no align_corners form");
  const auto size = n->attrs.get_ints("size");
  if (static_cast<int64_t>(size.size()) != rank - 2)
    fail(n, "resize needs one size per spatial dim");
  std::vector<double> scale(rank - 2, 0.0);
  if (n->attrs.has("scale") && !n->attrs.is_none("scale")) scale = n->attrs.get_floats("scale");
  if (scale.size() != size.size()) fail(n, "resize needs one scale per spatial dim");
  const bool scaled = std::any_of(scale.begin(), scale.end(), [](double v) { return v > 0; });
  const bool antialias = n->attrs.has("antialias") && n->attrs.get_bool("antialias");
  const std::string dtype(dtype_name(x->dtype));
  if (x->dtype == DType::kFloat64)
    fail(n,
         "float64 resizing: TFLite has no float64 kernels for the arithmetic it needs; "
         "convert the model to float32 (model.float()) first");
  if (method == "nearest" ? !gatherable(x->dtype) : x->dtype != DType::kFloat32)
    fail(n, method + " resizing of " + dtype + " tensors has no TFLite kernel");
  auto& f = m_.fbb();
  const std::string& s = n->scope;
  const bool builtin =
      !scaled && !antialias && x->dtype == DType::kFloat32 && method != "bicubic" && rank == 4;
  // Free sizes: the output size as a run-time input, which only the builtins take.
  const bool run_time_size = n->inputs.size() > 1 && n->inputs[1];
  if (run_time_size && !builtin) fail(n, "a resize to a run-time size needs a builtin kernel");
  if (builtin) {
    // TF's kernels compute ATen's positions, in the same float32 arithmetic, from in/out
    // (2-D only: there is no 3-D resize builtin).
    const int in = tensor(x), sizes = run_time_size ? tensor(n->inputs[1])
                                                    : m_.add_int32(to_i32(size), {2}, s + "/size");
    if (method == "bilinear")
      m_.add_op(fb::BuiltinOperator_RESIZE_BILINEAR, half ? 3 : 1, {in, sizes}, {tensor(out)},
                fb::BuiltinOptions_ResizeBilinearOptions,
                fb::CreateResizeBilinearOptions(f, 0, 0, align, half).Union());
    else
      m_.add_op(fb::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, half ? 3 : 1, {in, sizes},
                {tensor(out)}, fb::BuiltinOptions_ResizeNearestNeighborOptions,
                fb::CreateResizeNearestNeighborOptions(f, false, half).Union());
    return;
  }
  // Width first, then height (then depth): ATen's separable loop nests the last spatial dim
  // innermost, so the sums round in its order. Axes whose taps are the identity are left alone.
  Shape shape = x->physical_shape();
  std::vector<std::pair<int64_t, ResampleTaps>> axes;
  for (int64_t axis = rank - 2; axis >= 1; --axis) {
    ResampleTaps t = resample_taps(method, coordinate, shape[axis], size[axis - 1], scale[axis - 1],
                                   false, antialias);
    if (shape[axis] == size[axis - 1] && t.is_identity()) continue;
    axes.emplace_back(axis, std::move(t));
  }
  int cur = tensor(x);
  if (axes.empty()) {  // samples every input where it is: a copy
    const Shape os = out->physical_shape();
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {cur, m_.add_int32(to_i32(os), {static_cast<int64_t>(os.size())}, s + "/shape")},
              {tensor(out)});
    return;
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    // Named copies, not a structured binding: the lambdas below capture them (C++20 allows
    // capturing bindings, but clang before 16 does not).
    const int64_t axis = axes[i].first;
    const auto& t = axes[i].second;
    const int64_t n_out = size[axis - 1];
    const std::string name = s + "/axis" + std::to_string(axis);
    shape[axis] = n_out;
    const bool last = i + 1 == axes.size();
    const int dst = last ? tensor(out) : temp(x, shape, "_resized" + std::to_string(axis));
    Shape wshape(rank, 1);
    wshape[axis] = n_out;
    auto gather = [&](int64_t k, int to) {
      std::vector<int32_t> index(n_out);
      for (int64_t d = 0; d < n_out; ++d)
        index[d] = static_cast<int32_t>(t.index[d * t.taps + k]);  // < the axis' size
      add_op(fb::BuiltinOperator_GATHER,
             {cur, m_.add_int32(index, {n_out}, name + "_index" + std::to_string(k))}, {to},
             fb::BuiltinOptions_GatherOptions,
             fb::CreateGatherOptions(f, static_cast<int32_t>(axis)).Union());
    };
    const std::vector<int64_t> live = live_taps(t);
    auto unit = [&](int64_t k) {
      for (int64_t d = 0; d < n_out; ++d)
        if (t.weight[d * t.taps + k] != 1) return false;
      return true;
    };
    if (method == "nearest" || (live.size() == 1 && unit(live[0]))) {
      gather(method == "nearest" ? 0 : live[0], dst);
    } else {
      int acc = -1;
      for (size_t j = 0; j < live.size(); ++j) {
        const int64_t k = live[j];
        const std::string tag = std::to_string(k);
        std::vector<float> w(n_out);
        for (int64_t d = 0; d < n_out; ++d) w[d] = static_cast<float>(t.weight[d * t.taps + k]);
        const bool only = live.size() == 1;
        const int tap = temp(x, shape, "_tap" + std::to_string(axis) + tag);
        gather(k, tap);
        const int weighted = only ? dst : temp(x, shape, "_weighted" + std::to_string(axis) + tag);
        add_op(fb::BuiltinOperator_MUL, {tap, floats(w, wshape, name + "_weight" + tag)},
               {weighted}, fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(f).Union());
        if (acc < 0) {
          acc = weighted;
          continue;
        }
        const int sum =
            j + 1 == live.size() ? dst : temp(x, shape, "_sum" + std::to_string(axis) + tag);
        add_op(fb::BuiltinOperator_ADD, {acc, weighted}, {sum}, fb::BuiltinOptions_AddOptions,
               fb::CreateAddOptions(f).Union());
        acc = sum;
      }
    }
    cur = dst;
  }
}

}  // namespace ferry::tflite::detail
