#include <gtest/gtest.h>

#include "call_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;
using Ints = std::vector<int64_t>;

Attrs region(Ints begin, Ints end, Ints step, Ints squeeze) {
  Attrs a;
  a.set("begin", begin);
  a.set("end", end);
  a.set("step", step);
  a.set("squeeze_dims", squeeze);
  return a;
}

TEST(InplaceLowering, ScalarIntoAnIntegerIndexedDimIsBroadcastToTheRegion) {
  Attrs a = region({0, 1, 0}, {2, 2, 5}, {1, 1, 1}, {1});
  a.set("value", 0.5);
  auto r = Call().input("input", {2, 3, 5}).run("torch.Tensor.__setitem__", a, {2, 3, 5});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(ops(r), (std::vector<std::string>{"add", "reshape", "slice_update"}));
  const Node* update = find(r, "slice_update");
  EXPECT_EQ(update->inputs[1]->shape, (Shape{2, 1, 5}));
  EXPECT_EQ(update->attrs.get_ints("strides"), (Ints{1, 1, 1}));
}

TEST(InplaceLowering, ViewWriteOfAStridedRegionTakesTheValueAsIs) {
  auto r = Call()
               .input("input", {1, 3, 8, 8})
               .input("value", {1, 1, 8, 4})
               .run("ferry.view_write", region({0, 1, 0, 0}, {1, 2, 8, 8}, {1, 1, 1, 2}, {}),
                    {1, 3, 8, 8});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(ops(r), (std::vector<std::string>{"slice_update"}));
}

TEST(InplaceLowering, TensorIndexIsRefusedClearly) {
  auto r = Call()
               .input("input", {4})
               .input("index", {2}, DType::kInt64)
               .run("torch.Tensor.__setitem__", region({0}, {4}, {1}, {}), {4});
  EXPECT_TRUE(has_error(r, "tensor index"));
}

}  // namespace
}  // namespace ferry
