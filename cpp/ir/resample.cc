#include "ir/resample.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ferry {
namespace {

// ATen's area_pixel_compute_scale / compute_scales_value in its arithmetic type T.
template <typename T>
T ratio(bool align, int64_t in, int64_t out, double scale) {
  if (align) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  if (scale > 0) return static_cast<T>(1.0 / scale);
  return static_cast<T>(in) / static_cast<T>(out);
}

// nearest_idx / nearest_exact_idx: always float arithmetic in ATen.
int64_t nearest(bool half, int64_t in, int64_t out, double scale, int64_t d) {
  // ATen copies at equal sizes and halves at double sizes, whatever the scale says.
  if (!half && out == in) return d;
  if (!half && out == 2 * in) return d / 2;
  const float r = ratio<float>(false, in, out, scale);
  const float src = std::floor((static_cast<float>(d) + (half ? 0.5f : 0.0f)) * r);
  return std::min(static_cast<int64_t>(src), in - 1);
}

// get_cubic_upsample_coefficients with A = -0.75, taps at floor - 1 ... floor + 2.
template <typename T>
void cubic(T t, T* w) {
  const T a = T(-0.75);
  auto near = [a](T x) { return ((a + T(2)) * x - (a + T(3))) * x * x + T(1); };
  auto far = [a](T x) { return ((a * x - T(5) * a) * x + T(8) * a) * x - T(4) * a; };
  const T one = T(1);
  w[0] = far(t + one);
  w[1] = near(t);
  w[2] = near(one - t);
  w[3] = far(one - t + one);
}

template <typename T>
ResampleTaps interpolated(bool bicubic, bool align, bool half, int64_t in, int64_t out,
                          double scale) {
  ResampleTaps r;
  r.taps = bicubic ? 4 : 2;
  r.index.resize(out * r.taps);
  r.weight.resize(out * r.taps);
  const T s = ratio<T>(align, in, out, scale);
  for (int64_t d = 0; d < out; ++d) {
    int64_t* idx = &r.index[d * r.taps];
    double* wt = &r.weight[d * r.taps];
    if (!bicubic && out == in) {  // ATen copies here, whatever the scale says
      idx[0] = idx[1] = d;
      wt[0] = 1;
      wt[1] = 0;
      continue;
    }
    const T dst = static_cast<T>(d);
    T src = half ? s * (dst + T(0.5)) - T(0.5) : s * dst;
    if (!bicubic && src < T(0)) src = T(0);  // bilinear clamps a negative source; bicubic not
    // guard_index_and_lambda
    const int64_t lower = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
    const T t = std::clamp(src - static_cast<T>(lower), T(0), T(1));
    if (bicubic) {
      T w[4];
      cubic(t, w);
      for (int64_t k = 0; k < 4; ++k) {
        idx[k] = std::clamp<int64_t>(lower - 1 + k, 0, in - 1);
        wt[k] = static_cast<double>(w[k]);
      }
    } else {
      idx[0] = lower;
      idx[1] = lower < in - 1 ? lower + 1 : lower;
      wt[0] = static_cast<double>(T(1) - t);
      wt[1] = static_cast<double>(t);
    }
  }
  return r;
}

// ATen's _compute_indices_min_size_weights_aa (align_corners_delta 0: floating inputs).
template <typename T>
ResampleTaps antialiased(bool bicubic, bool align, int64_t in, int64_t out, double scale) {
  ResampleTaps r;
  if (in == out) {  // ATen's separable kernel skips an axis that keeps its size
    r.index.resize(out);
    r.weight.assign(out, 1.0);
    for (int64_t d = 0; d < out; ++d) r.index[d] = d;
    return r;
  }
  const T s = ratio<T>(align, in, out, scale);
  const T half_width = bicubic ? T(2) : T(1);  // interp_size / 2
  const T support = s >= T(1) ? half_width * s : half_width;
  // The 0.5s below are double literals in ATen: those sums are double, then truncated.
  const T invscale = s >= T(1) ? static_cast<T>(1.0 / static_cast<double>(s)) : T(1);
  r.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  r.index.assign(out * r.taps, 0);
  r.weight.assign(out * r.taps, 0.0);
  auto filter = [bicubic](T x) -> T {
    x = std::abs(x);
    if (!bicubic) return x < T(1) ? T(1) - x : T(0);
    const T a = T(-0.5);  // PIL's, which ATen's antialiased bicubic follows
    if (x < T(1)) return ((a + T(2)) * x - (a + T(3))) * x * x + T(1);
    if (x < T(2)) return ((a * x - T(5) * a) * x + T(8) * a) * x - T(4) * a;
    return T(0);
  };
  std::vector<T> w(r.taps);
  for (int64_t d = 0; d < out; ++d) {
    const T center = s * (static_cast<T>(d) + T(0.5));
    const int64_t lo =
        std::max<int64_t>(static_cast<int64_t>(static_cast<double>(center - support) + 0.5), 0);
    int64_t size =
        std::min<int64_t>(static_cast<int64_t>(static_cast<double>(center + support) + 0.5), in) -
        lo;
    size = std::min(size, r.taps);  // the support bounds it; this only guards the buffer
    T total = 0;
    for (int64_t j = 0; j < size; ++j) {
      const double at = static_cast<double>(static_cast<T>(j + lo) - center) + 0.5;
      w[j] = filter(static_cast<T>(at * static_cast<double>(invscale)));
      total += w[j];
    }
    for (int64_t j = 0; j < r.taps; ++j) {
      r.index[d * r.taps + j] = std::min(lo + j, in - 1);  // past `size`: weight 0
      if (j < size)
        r.weight[d * r.taps + j] = static_cast<double>(total != T(0) ? w[j] / total : w[j]);
    }
  }
  return r;
}

}  // namespace

bool ResampleTaps::is_identity() const {
  const int64_t out = static_cast<int64_t>(index.size()) / taps;
  for (int64_t d = 0; d < out; ++d) {
    double own = 0;
    for (int64_t k = 0; k < taps; ++k) {
      const double w = weight[d * taps + k];
      if (index[d * taps + k] == d)
        own += w;
      else if (w != 0)
        return false;
    }
    if (own != 1) return false;
  }
  return true;
}

ResampleTaps resample_taps(const std::string& method, const std::string& coordinate, int64_t in,
                           int64_t out, double scale, bool float64, bool antialias) {
  const bool align = coordinate == "align_corners", half = coordinate == "half_pixel";
  if (!align && !half && coordinate != "asymmetric")
    throw std::invalid_argument("resize: unknown coordinate '" + coordinate + "'");
  if (method == "nearest") {
    if (align) throw std::invalid_argument("resize: nearest has no align_corners form");
    ResampleTaps r;
    r.index.resize(out);
    r.weight.assign(out, 1.0);
    for (int64_t d = 0; d < out; ++d) r.index[d] = nearest(half, in, out, scale, d);
    return r;
  }
  if (method != "bilinear" && method != "bicubic")
    throw std::invalid_argument("resize: unknown method '" + method + "'");
  const bool bicubic = method == "bicubic";
  if (antialias)
    return float64 ? antialiased<double>(bicubic, align, in, out, scale)
                   : antialiased<float>(bicubic, align, in, out, scale);
  return float64 ? interpolated<double>(bicubic, align, half, in, out, scale)
                 : interpolated<float>(bicubic, align, half, in, out, scale);
}

}  // namespace ferry
