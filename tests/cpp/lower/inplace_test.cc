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

// x -> view_write(x, v, r) -> __setitem__(that, v, r'): the PyTorch calls of
// `x[r] = torch.relu_(x[r])`, with `v` the ReLU of the view.
LowerResult write_twice(Attrs first, Attrs second, bool same_value) {
  auto g = std::make_unique<Graph>();
  Value* x = g->add_value(DType::kFloat32, {1, 3, 8, 8}, "x");
  Value* v = g->add_value(DType::kFloat32, {1, 1, 8, 4}, "v");
  Value* other = g->add_value(DType::kFloat32, {1, 1, 8, 4}, "other");
  g->inputs = {x, v, other};
  g->input_names = {"x", "v", "other"};
  auto call = [&](const std::string& op, Value* base, Value* value, Attrs a) {
    Node* n = g->add_node(op, {base, value}, std::move(a));
    n->input_args = {"input", "value"};
    Value* y = g->add_value(DType::kFloat32, {1, 3, 8, 8});
    g->add_output_to(n, y);
    return y;
  };
  Value* once = call("ferry.view_write", x, v, std::move(first));
  Value* twice = call("torch.Tensor.__setitem__", once, same_value ? v : other, std::move(second));
  g->outputs = {twice};
  g->output_names = {"y"};
  Registry registry;
  register_all(registry);
  return lower(*g, registry);
}

TEST(InplaceLowering, StoringTheValueJustWrittenToTheSameRegionIsOneWrite) {
  // The view's write-back ends after the last position (7), the assignment at the slice's
  // stop (8): the same positions.
  auto r = write_twice(region({0, 1, 0, 1}, {1, 2, 8, 8}, {1, 1, 1, 2}, {}),
                       region({0, 1, 0, 1}, {1, 2, 8, 9}, {1, 1, 1, 2}, {}), true);
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(ops(r), (std::vector<std::string>{"slice_update"}));
  EXPECT_EQ(r.graph->outputs[0], find(r, "slice_update")->outputs[0]);
}

TEST(InplaceLowering, AnotherValueOrRegionKeepsBothWrites) {
  const Attrs r1 = region({0, 1, 0, 1}, {1, 2, 8, 8}, {1, 1, 1, 2}, {});
  auto other_value = write_twice(r1, r1, false);
  EXPECT_EQ(ops(other_value), (std::vector<std::string>{"slice_update", "slice_update"}));
  auto other_region = write_twice(r1, region({0, 1, 0, 0}, {1, 2, 8, 8}, {1, 1, 1, 2}, {}), true);
  EXPECT_EQ(ops(other_region), (std::vector<std::string>{"slice_update", "slice_update"}));
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
