#include "ir/resample.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace ferry {
namespace {

TEST(ResampleTaps, NearestHalvesAtDoubleSizeWhateverTheScale) {
  // ATen takes d / 2 at out == 2 * in even when scale_factor would say otherwise.
  ResampleTaps t = resample_taps("nearest", "asymmetric", 5, 10, 2.1, false);
  EXPECT_EQ(t.taps, 1);
  EXPECT_EQ(t.index, (std::vector<int64_t>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}));
}

TEST(ResampleTaps, NearestSamplesAtTheGivenScale) {
  // 9 * 0.7 -> 6 outputs; PyTorch samples at floor(d / 0.7), not floor(d * 9 / 6).
  ResampleTaps t = resample_taps("nearest", "asymmetric", 9, 6, 0.7, false);
  EXPECT_EQ(t.index, (std::vector<int64_t>{0, 1, 2, 4, 5, 7}));
  ResampleTaps by_size = resample_taps("nearest", "asymmetric", 9, 6, 0.0, false);
  EXPECT_EQ(by_size.index, (std::vector<int64_t>{0, 1, 3, 4, 6, 7}));
}

TEST(ResampleTaps, BilinearClampsTheFirstSourceAndTheLastIndex) {
  ResampleTaps t = resample_taps("bilinear", "half_pixel", 3, 6, 0.0, false);
  EXPECT_EQ(t.taps, 2);
  EXPECT_EQ(t.index[0], 0);  // source -0.25 clamps to row 0
  EXPECT_EQ(t.weight[0], 1.0);
  EXPECT_EQ(t.index[10], 2);  // last output: both taps on the last row
  EXPECT_EQ(t.index[11], 2);
}

TEST(ResampleTaps, BicubicWeightsSumToOneWithClampedIndices) {
  ResampleTaps t = resample_taps("bicubic", "align_corners", 4, 7, 0.0, false);
  EXPECT_EQ(t.taps, 4);
  for (int64_t d = 0; d < 7; ++d) {
    double sum = 0;
    for (int64_t k = 0; k < 4; ++k) {
      sum += t.weight[d * 4 + k];
      EXPECT_GE(t.index[d * 4 + k], 0);
      EXPECT_LE(t.index[d * 4 + k], 3);
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  // Output 0 sits on input 0: weights (0, 1, 0, 0) over indices (0, 0, 1, 2).
  EXPECT_EQ(t.index[0], 0);
  EXPECT_EQ(t.weight[1], 1.0);
}

TEST(ResampleTaps, FloatWeightsAreFloat32Values) {
  ResampleTaps t = resample_taps("bilinear", "half_pixel", 7, 12, 1.7, false);
  for (double w : t.weight) EXPECT_EQ(w, static_cast<double>(static_cast<float>(w)));
}

TEST(ResampleTaps, IdentityIsRecognised) {
  EXPECT_TRUE(resample_taps("bilinear", "half_pixel", 5, 5, 0.0, false).is_identity());
  EXPECT_TRUE(resample_taps("bicubic", "half_pixel", 5, 5, 0.0, false).is_identity());
  EXPECT_TRUE(resample_taps("nearest", "half_pixel", 1, 1, 0.0, false).is_identity());
  EXPECT_FALSE(resample_taps("bilinear", "half_pixel", 5, 7, 0.0, false).is_identity());
}

TEST(ResampleTaps, AntialiasStretchesAndNormalisesTheFilter) {
  // Halving: the triangle spans 2 inputs each side; output 0 (centre 1.0) reads inputs 0..2 with
  // weights 0.75, 0.75, 0.25 over their sum 1.75.
  ResampleTaps t = resample_taps("bilinear", "half_pixel", 8, 4, 0.0, false, true);
  EXPECT_EQ(t.taps, 5);
  EXPECT_EQ((std::vector<int64_t>(t.index.begin(), t.index.begin() + 3)),
            (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FLOAT_EQ(t.weight[0], 3.0f / 7.0f);
  EXPECT_FLOAT_EQ(t.weight[1], 3.0f / 7.0f);
  EXPECT_FLOAT_EQ(t.weight[2], 1.0f / 7.0f);
  EXPECT_EQ(t.weight[3], 0.0);
  // An axis that keeps its size is left alone, as ATen's separable kernel does.
  EXPECT_TRUE(resample_taps("bicubic", "half_pixel", 6, 6, 0.9, false, true).is_identity());
}

TEST(ResampleTaps, UnknownMethodThrows) {
  EXPECT_THROW(resample_taps("area", "half_pixel", 4, 2, 0.0, false), std::invalid_argument);
  EXPECT_THROW(resample_taps("nearest", "align_corners", 4, 2, 0.0, false), std::invalid_argument);
}

}  // namespace
}  // namespace ferry
