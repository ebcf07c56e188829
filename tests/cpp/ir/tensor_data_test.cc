#include "ir/tensor_data.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ferry {
namespace {

std::shared_ptr<TensorData> iota(Shape shape) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  std::iota(t->mutable_as<float>(), t->mutable_as<float>() + t->size(), 0.0f);
  return t;
}

// Element of a row-major [2, 3, 4] iota at (a, b, c).
float at(int64_t a, int64_t b, int64_t c) { return static_cast<float>((a * 3 + b) * 4 + c); }

TEST(TensorData, PermutationIsLazyAndPointsAtItsSource) {
  auto t = iota({2, 3, 4});
  auto p = t->permuted({2, 0, 1});  // [4, 2, 3]
  EXPECT_EQ(p->shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p->permute_source(), t.get());
  EXPECT_EQ(p->permute_order(), (std::vector<int64_t>{2, 0, 1}));
  // Reading materialises: p[c, a, b] = t[a, b, c].
  EXPECT_EQ(p->as<float>()[(3 * 2 + 1) * 3 + 2], at(1, 2, 3));
}

TEST(TensorData, PermutationsComposeOntoTheOriginalSource) {
  auto t = iota({2, 3, 4});
  auto p = t->permuted({2, 0, 1})->permuted({1, 2, 0});  // back to [2, 3, 4]
  EXPECT_EQ(p->permute_source(), t.get());
  EXPECT_EQ(p->permute_order(), (std::vector<int64_t>{0, 1, 2}));
  for (int64_t i = 0; i < t->size(); ++i) EXPECT_EQ(p->as<float>()[i], t->as<float>()[i]);
}

TEST(TensorData, PermuteIntoReadsTheSourceWithoutMaterialising) {
  auto t = iota({2, 3, 4});
  auto p = t->permuted({1, 0, 2});  // [3, 2, 4]
  std::vector<float> out(24);
  p->permute_into({2, 1, 0}, reinterpret_cast<std::byte*>(out.data()));  // [4, 2, 3]
  // out[c, a, b] = p[b, a, c] = t[a, b, c]
  EXPECT_EQ(out[(3 * 2 + 1) * 3 + 2], at(1, 2, 3));
  EXPECT_EQ(out[(1 * 2 + 0) * 3 + 1], at(0, 1, 1));
}

TEST(TensorData, WritingALazyTensorDetachesItFromItsSource) {
  auto t = iota({2, 3});
  auto p = t->permuted({1, 0});
  p->mutable_as<float>()[0] = 42.0f;
  EXPECT_EQ(p->permute_source(), nullptr);
  EXPECT_EQ(p->as<float>()[0], 42.0f);
  EXPECT_EQ(p->as<float>()[1], 3.0f);  // p[0, 1] = t[1, 0]
  EXPECT_EQ(t->as<float>()[0], 0.0f);
}

TEST(TensorData, RejectsWhatIsNotAPermutation) {
  auto t = iota({2, 3});
  EXPECT_THROW(t->permuted({0, 0}), std::invalid_argument);
  EXPECT_THROW(t->permuted({0}), std::invalid_argument);
}

}  // namespace
}  // namespace ferry
