#include <gtest/gtest.h>

#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// F.grid_sample(input, grid, ...) lowered on its own.
LowerResult run(const std::string& op, Shape in, Shape grid, Attrs attrs, Shape out,
                DType dtype = DType::kFloat32) {
  Graph g;
  Value* x = g.add_value(dtype, std::move(in), "input");
  Value* gv = g.add_value(dtype, std::move(grid), "grid");
  g.inputs = {x, gv};
  g.input_names = {"input", "grid"};
  Node* n = g.add_node(op, {x, gv}, std::move(attrs));
  n->input_args = {"input", "grid"};
  Value* y = g.add_value(dtype, std::move(out), "y");
  g.add_output_to(n, y);
  g.outputs.push_back(y);
  g.output_names.push_back("y");
  Registry registry;
  register_all(registry);
  return lower(g, registry);
}

Attrs function_attrs(const std::string& mode, const std::string& padding, bool align) {
  Attrs a;
  a.set("mode", mode);
  a.set("padding_mode", padding);
  a.set("align_corners", align);
  return a;
}

const Node* find(const LowerResult& r, const std::string& op) {
  for (const Node* n : r.graph->nodes())
    if (n->op == op) return n;
  return nullptr;
}

TEST(GridSampleLowering, OneOpWithThePinnedGrid) {
  auto r = run("torch.nn.functional.grid_sample", {2, 3, 5, 7}, {2, 4, 6, 2},
               function_attrs("nearest", "reflection", true), {2, 3, 4, 6});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* n = find(r, "grid_sample");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->attrs.get_string("mode"), "nearest");
  EXPECT_EQ(n->attrs.get_string("padding"), "reflection");
  EXPECT_TRUE(n->attrs.get_bool("align_corners"));
  // The grid's last axis is (x, y): an order hint keeps it in PyTorch order.
  const Node* hint = n->inputs[1]->producer;
  ASSERT_NE(hint, nullptr);
  EXPECT_EQ(hint->op, "identity");
  EXPECT_EQ(hint->attrs.get_string("force"), "pytorch");
}

TEST(GridSampleLowering, AtenSpellsModesAsEnumValues) {
  Attrs a;
  a.set("interpolation_mode", int64_t{0});
  a.set("padding_mode", int64_t{1});
  a.set("align_corners", false);
  auto r = run("aten.grid_sampler_2d.default", {1, 2, 4, 4}, {1, 3, 3, 2}, a, {1, 2, 3, 3});
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  const Node* n = find(r, "grid_sample");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->attrs.get_string("mode"), "bilinear");
  EXPECT_EQ(n->attrs.get_string("padding"), "border");
}

TEST(GridSampleLowering, BicubicIsRefusedByName) {
  auto r = run("torch.nn.functional.grid_sample", {1, 2, 4, 4}, {1, 3, 3, 2},
               function_attrs("bicubic", "zeros", false), {1, 2, 3, 3});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("mode 'bicubic'"), std::string::npos);
}

}  // namespace
}  // namespace ferry
