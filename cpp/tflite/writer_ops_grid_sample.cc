// `grid_sample` (docs/tf_ops.md) -> TFLite builtins. The grid is data, so the sampling
// positions are computed in the graph as ATen's CPU grid_sampler_2d computes them: SPLIT the
// grid into x and y, unnormalize (ADD, MUL), clip (MAXIMUM, MINIMUM) or reflect (SUB, ABS,
// FLOOR_MOD, MINIMUM), then FLOOR (bilinear) or ROUND, half to even like nearbyint (nearest).
// Pixels come from one GATHER per corner on the input PADded by a zero border and flattened
// to [N * (H + 2) * (W + 2), C]: coordinates are clamped to [-1, size] first, so a corner
// outside the image reads a zero, exactly ATen's contribution for it, with no masks. Bilinear
// weighs its four corners (MUL, ADD). Every op is float32 or int32 at version 1.
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_grid_sample(const Node* n) {
  const Value *x = n->inputs[0], *g = n->inputs[1], *out = n->outputs[0];
  if (x->rank() != 4 || g->rank() != 4) fail(n, "grid_sample needs a 4-D input and grid");
  if (x->dtype == DType::kFloat64 || g->dtype == DType::kFloat64)
    fail(n,
         "float64 grid_sample: TFLite has no float64 arithmetic kernels; convert the model "
         "to float32 (model.float()) first");
  if (x->dtype != DType::kFloat32 || g->dtype != DType::kFloat32)
    fail(n, "only float32 grid_sample is supported");
  const std::string mode = n->attrs.get_string("mode"), padding = n->attrs.get_string("padding");
  const bool align = n->attrs.get_bool("align_corners");
  if (mode != "bilinear" && mode != "nearest")
    fail(n, "grid_sample mode '" + mode + "' is not supported");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    fail(n, "grid_sample padding '" + padding + "' is not supported");
  const Shape xs = x->physical_shape(), gs = g->physical_shape();
  const int64_t batch = xs[0], h = xs[1], w = xs[2], c = xs[3];
  if (gs[0] != batch || gs[3] != 2) fail(n, "the grid must be [N, H', W', 2]");
  const Shape coord = {batch, gs[1], gs[2], 1}, pixels = {batch, gs[1], gs[2], c};
  auto& f = m_.fbb();
  const std::string& s = n->scope;
  int count = 0;
  auto tmp = [&](const Shape& shape, fb::TensorType type = fb::TensorType_FLOAT32) {
    return m_.add_tensor(type, shape,
                         "tmp" + std::to_string(out->id) + "_grid" + std::to_string(count++));
  };
  auto scalar = [&](float v) {
    return m_.add_float_scalar(v, s + "/constant" + std::to_string(count++));
  };
  auto binary = [&](fb::BuiltinOperator code, int a, int b, const Shape& shape, int dst = -1,
                    fb::TensorType type = fb::TensorType_FLOAT32) {
    if (dst < 0) dst = tmp(shape, type);
    if (code == fb::BuiltinOperator_ADD)
      add_op(code, {a, b}, {dst}, fb::BuiltinOptions_AddOptions, fb::CreateAddOptions(f).Union());
    else if (code == fb::BuiltinOperator_SUB)
      add_op(code, {a, b}, {dst}, fb::BuiltinOptions_SubOptions, fb::CreateSubOptions(f).Union());
    else if (code == fb::BuiltinOperator_MUL)
      add_op(code, {a, b}, {dst}, fb::BuiltinOptions_MulOptions, fb::CreateMulOptions(f).Union());
    else
      add_op(code, {a, b}, {dst});
    return dst;
  };
  auto unary = [&](fb::BuiltinOperator code, int a) {
    const int dst = tmp(coord);
    add_op(code, {a}, {dst});
    return dst;
  };
  auto clip = [&](int v, float lo, float hi) {
    return binary(fb::BuiltinOperator_MINIMUM,
                  binary(fb::BuiltinOperator_MAXIMUM, v, scalar(lo), coord), scalar(hi), coord);
  };
  // ATen's vectorised unnormalize, then its padding rule.
  auto source = [&](int gv, int64_t size) {
    const float sz = static_cast<float>(size);
    const int plus_one = binary(fb::BuiltinOperator_ADD, gv, scalar(1.0f), coord);
    int v = align ? binary(fb::BuiltinOperator_MUL, plus_one, scalar((sz - 1) / 2), coord)
                  : binary(fb::BuiltinOperator_ADD,
                           binary(fb::BuiltinOperator_MUL, plus_one, scalar(sz / 2), coord),
                           scalar(-0.5f), coord);
    if (padding == "border") return clip(v, 0, sz - 1);
    if (padding == "reflection") {
      const float low = align ? 0.0f : -0.5f, span = align ? sz - 1 : sz;
      if (span <= 0) return clip(v, 0, 0);  // one pixel: every sample is at it
      // Fold with period 2 * span about `low`: min(e, 2 span - e) + low, e = |v - low| mod 2 span.
      const int dist =
          unary(fb::BuiltinOperator_ABS, binary(fb::BuiltinOperator_SUB, v, scalar(low), coord));
      const int extra = binary(fb::BuiltinOperator_FLOOR_MOD, dist, scalar(2 * span), coord);
      const int mirrored = binary(fb::BuiltinOperator_SUB, scalar(2 * span), extra, coord);
      v = binary(fb::BuiltinOperator_ADD,
                 binary(fb::BuiltinOperator_MINIMUM, extra, mirrored, coord), scalar(low), coord);
      return clip(v, 0, sz - 1);
    }
    return v;
  };
  const int gx = tmp(coord), gy = tmp(coord);
  m_.add_op(fb::BuiltinOperator_SPLIT, 1, {m_.add_int32({3}, {}, s + "/split_axis"), tensor(g)},
            {gx, gy}, fb::BuiltinOptions_SplitOptions, fb::CreateSplitOptions(f, 2).Union());
  const int ix = source(gx, w), iy = source(gy, h);
  // The image with a zero border, flattened to rows of C values.
  const int64_t hp = h + 2, wp = w + 2;
  const int padded = tmp({batch, hp, wp, c});
  add_op(fb::BuiltinOperator_PAD,
         {tensor(x), m_.add_int32({0, 0, 1, 1, 1, 1, 0, 0}, {4, 2}, s + "/border")}, {padded},
         fb::BuiltinOptions_PadOptions, fb::CreatePadOptions(f).Union());
  const int rows = tmp({batch * hp * wp, c});
  m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
            {padded, m_.add_int32({static_cast<int32_t>(batch * hp * wp), static_cast<int32_t>(c)},
                                  {2}, s + "/rows_shape")},
            {rows});
  // Row of (x, y) in image n: n * hp * wp + (y + 1) * wp + (x + 1); every term fits in int32
  // (the writer's tensors are int32-indexed).
  std::vector<int32_t> offsets(batch);
  for (int64_t b = 0; b < batch; ++b) offsets[b] = static_cast<int32_t>(b * hp * wp + wp + 1);
  const int base = m_.add_int32(offsets, {batch, 1, 1, 1}, s + "/image_offset");
  const int row_stride = m_.add_int32({static_cast<int32_t>(wp)}, {}, s + "/row_stride");
  const Shape index_shape = {batch, gs[1], gs[2]};
  const int index_shape_t = m_.add_int32(to_i32(index_shape), {3}, s + "/index_shape");
  auto to_int = [&](int v, float hi) {
    const int dst = tmp(coord, fb::TensorType_INT32);
    add_op(fb::BuiltinOperator_CAST, {clip(v, -1, hi)}, {dst}, fb::BuiltinOptions_CastOptions,
           fb::CreateCastOptions(f, fb::TensorType_FLOAT32, fb::TensorType_INT32).Union());
    return dst;
  };
  auto fetch = [&](int xc, int yc, int dst) {
    const auto i32 = fb::TensorType_INT32;
    const int xi = to_int(xc, static_cast<float>(w)), yi = to_int(yc, static_cast<float>(h));
    const int row = binary(fb::BuiltinOperator_MUL, yi, row_stride, coord, -1, i32);
    const int at =
        binary(fb::BuiltinOperator_ADD, binary(fb::BuiltinOperator_ADD, row, xi, coord, -1, i32),
               base, coord, -1, i32);
    const int index = tmp(index_shape, i32);
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {at, index_shape_t}, {index});
    if (dst < 0) dst = tmp(pixels);
    add_op(fb::BuiltinOperator_GATHER, {rows, index}, {dst}, fb::BuiltinOptions_GatherOptions,
           fb::CreateGatherOptions(f, 0).Union());
    return dst;
  };
  if (mode == "nearest") {
    fetch(unary(fb::BuiltinOperator_ROUND, ix), unary(fb::BuiltinOperator_ROUND, iy), tensor(out));
    return;
  }
  const int x0 = unary(fb::BuiltinOperator_FLOOR, ix), y0 = unary(fb::BuiltinOperator_FLOOR, iy);
  const int x1 = binary(fb::BuiltinOperator_ADD, x0, scalar(1.0f), coord);
  const int y1 = binary(fb::BuiltinOperator_ADD, y0, scalar(1.0f), coord);
  const int we = binary(fb::BuiltinOperator_SUB, ix, x0, coord);  // towards x0 + 1
  const int ws = binary(fb::BuiltinOperator_SUB, iy, y0, coord);  // towards y0 + 1
  const int ww = binary(fb::BuiltinOperator_SUB, scalar(1.0f), we, coord);
  const int wn = binary(fb::BuiltinOperator_SUB, scalar(1.0f), ws, coord);
  const int corners[4][4] = {
      {x0, y0, wn, ww}, {x1, y0, wn, we}, {x0, y1, ws, ww}, {x1, y1, ws, we}};
  int acc = -1;
  for (int k = 0; k < 4; ++k) {
    const auto& [cx, cy, wy, wx] = corners[k];
    const int weight = binary(fb::BuiltinOperator_MUL, wy, wx, coord);
    const int term = binary(fb::BuiltinOperator_MUL, fetch(cx, cy, -1), weight, pixels);
    acc = acc < 0 ? term
                  : binary(fb::BuiltinOperator_ADD, acc, term, pixels, k == 3 ? tensor(out) : -1);
  }
}

}  // namespace ferry::tflite::detail
