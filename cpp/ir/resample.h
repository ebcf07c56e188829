#pragma once

// Where the TF-level `resize` op samples its input along one axis (docs/tf_ops.md), as ATen's
// UpSample.h computes it. The lowering (which decides whether a scale_factor matters), the
// TFLite writer (which writes the taps as constants) and the Keras back end (through the
// Python binding) all read the same numbers, so they cannot disagree on a sample.
#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

// Per output position d, `taps` input indices index[d * taps + k] with weights
// weight[d * taps + k]: 1 tap for nearest, 2 for bilinear, 4 for bicubic.
struct ResampleTaps {
  int64_t taps = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;  // values of ATen's arithmetic type (float or double), widened

  // Output d reads input d with weight 1 (other taps weigh 0): the axis needs no work.
  bool is_identity() const;
};

// method: nearest | bilinear | bicubic; coordinate: asymmetric | half_pixel | align_corners;
// scale > 0 is PyTorch's scale_factor for this axis (samples at 1/scale), else in/out counts.
// `float64` selects ATen's double arithmetic (float64 inputs; nearest is always float).
// `antialias` (bilinear, bicubic) gives ATen's _upsample_*_aa taps: the filter (triangle, or
// cubic with a = -0.5) stretched by the downscaling factor and normalised per output, as many
// taps as the widest support needs (unused ones weigh 0).
// Throws std::invalid_argument for an unknown method or coordinate.
ResampleTaps resample_taps(const std::string& method, const std::string& coordinate, int64_t in,
                           int64_t out, double scale, bool float64, bool antialias = false);

}  // namespace ferry
