#include <gtest/gtest.h>

#include "call_fixture.h"
#include "lower/helpers.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

using namespace lower_test;

using Ints = std::vector<int64_t>;

TEST(PadHelpers, PadsByDimReadsPairsFromTheLastDim) {
  EXPECT_EQ(pads_by_dim({1, 2}, 3), (Ints{0, 0, 0, 0, 1, 2}));
  EXPECT_EQ(pads_by_dim({1, 2, 3, 4}, 3), (Ints{0, 0, 3, 4, 1, 2}));
  EXPECT_EQ(pads_by_dim({}, 2), (Ints{0, 0, 0, 0}));
  EXPECT_THROW(pads_by_dim({1, 2, 3}, 3), LowerError);
  EXPECT_THROW(pads_by_dim({1, 1, 1, 1, 1, 1}, 2), LowerError);
}

TEST(PoolHelpers, AdaptiveWindowsArePyTorchs) {
  // 10 -> 4: [0, 3), [2, 5), [5, 8), [7, 10)
  EXPECT_EQ(adaptive_window(0, 10, 4), (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(adaptive_window(1, 10, 4), (std::pair<int64_t, int64_t>{2, 5}));
  EXPECT_EQ(adaptive_window(3, 10, 4), (std::pair<int64_t, int64_t>{7, 10}));
  // Upsampling 3 -> 5 repeats elements: [0, 1), [0, 2), [1, 2), [1, 3), [2, 3)
  EXPECT_EQ(adaptive_window(1, 3, 5), (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(adaptive_window(4, 3, 5), (std::pair<int64_t, int64_t>{2, 3}));
  EXPECT_THROW(adaptive_window(4, 3, 4), LowerError);
}

Attrs pad_attrs(Ints pad, const char* mode) {
  Attrs a;
  a.set("pad", std::move(pad));
  a.set("mode", std::string(mode));
  a.set("value", std::monostate{});
  return a;
}

TEST(PadLowering, ReflectCropsAfterPadding) {
  Call c;
  c.input("input", {1, 3, 8, 8});
  auto r = c.run("torch.nn.functional.pad", pad_attrs({-1, 2, 0, 0}, "reflect"), {1, 3, 8, 9});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"pad", "slice"}));
  EXPECT_EQ(find(r, "pad")->attrs.get_ints("pads"), (Ints{0, 0, 0, 0, 0, 0, 0, 2}));
  EXPECT_EQ(find(r, "pad")->attrs.get_string("mode"), "REFLECT");
  EXPECT_EQ(find(r, "slice")->attrs.get_ints("begin"), (Ints{0, 0, 0, 1}));
}

TEST(PadLowering, CircularCropsBeforePadding) {
  Call c;
  c.input("input", {1, 3, 8});
  auto r = c.run("torch.nn.functional.pad", pad_attrs({-1, 2}, "circular"), {1, 3, 9});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(ops(r), (std::vector<std::string>{"slice", "pad"}));
  EXPECT_EQ(find(r, "pad")->attrs.get_string("mode"), "CIRCULAR");
}

TEST(PadLowering, ReflectWiderThanTheInputIsRefused) {
  Call c;
  c.input("input", {1, 3, 2});
  auto r = c.run("torch.nn.functional.pad", pad_attrs({2, 0}, "reflect"), {1, 3, 4});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("mode='reflect'"), std::string::npos);
}

}  // namespace
}  // namespace ferry
