#include "ir/dims.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "ir/graph.h"

namespace ferry {
namespace {

// h -> (h - 1) // 2 + 1: a stride-2 convolution's output height.
int32_t strided(SymbolTable& t, int32_t h) {
  int32_t minus = t.add({DimOp::kAdd, -1, {{h, 0}, {-1, -1}}});
  int32_t half = t.add({DimOp::kFloorDiv, -1, {{minus, 0}, {-1, 2}}});
  return t.add({DimOp::kAdd, -1, {{half, 0}, {-1, 1}}});
}

TEST(SymbolTable, EvaluatesWithPythonFloorSemantics) {
  SymbolTable t;
  t.add_symbol({"h", 0, 2, 64});
  int32_t h = t.add({DimOp::kSymbol, 0, {}});
  int32_t out = strided(t, h);
  EXPECT_EQ(t.hint(out), 32);
  EXPECT_EQ(t.evaluate(out, {65}), 33);
  EXPECT_EQ(t.evaluate(out, {1}), 1);
  // Floor, not truncation: (-3) // 2 == -2 and (-3) % 2 == 1, as PyTorch's expressions mean.
  int32_t div = t.add({DimOp::kFloorDiv, -1, {{-1, -3}, {h, 0}}});
  int32_t mod = t.add({DimOp::kMod, -1, {{-1, -3}, {h, 0}}});
  EXPECT_EQ(t.evaluate(div, {2}), -2);
  EXPECT_EQ(t.evaluate(mod, {2}), 1);
  EXPECT_THROW(t.evaluate(div, {0}), std::invalid_argument);
}

TEST(SymbolTable, EqualExpressionsShareAnIndex) {
  SymbolTable t;
  t.add_symbol({"batch", 0, 0, 2});
  t.add_symbol({"w", 0, 3, 48});
  int32_t b = t.add({DimOp::kSymbol, 0, {}});
  int32_t w = t.add({DimOp::kSymbol, 1, {}});
  EXPECT_NE(b, w);
  EXPECT_EQ(t.add({DimOp::kSymbol, 0, {}}), b);
  EXPECT_EQ(strided(t, w), strided(t, w));
  EXPECT_NE(strided(t, w), strided(t, b));
  int32_t area = t.add({DimOp::kMul, -1, {{b, 0}, {w, 0}}});
  EXPECT_EQ(t.hint(area), 96);
  EXPECT_EQ(t.evaluate(t.add({DimOp::kMax, -1, {{b, 0}, {-1, 5}}}), {3, 7}), 5);
  EXPECT_EQ(t.evaluate(t.add({DimOp::kMin, -1, {{b, 0}, {-1, 5}}}), {3, 7}), 3);
}

TEST(SymbolTable, RendersForMessages) {
  SymbolTable t;
  t.add_symbol({"h", 0, 2, 64});
  int32_t h = t.add({DimOp::kSymbol, 0, {}});
  EXPECT_EQ(t.render(h), "h");
  EXPECT_EQ(t.render(strided(t, h)), "(((h + -1)//2) + 1)");
}

TEST(SymbolTable, RefusesUnknownSymbolsAndForwardReferences) {
  SymbolTable t;
  EXPECT_THROW(t.add({DimOp::kSymbol, 0, {}}), std::invalid_argument);
  t.add_symbol({"n", 0, 1, 10});
  EXPECT_THROW(t.add({DimOp::kAdd, -1, {{3, 0}, {-1, 1}}}), std::invalid_argument);
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(FreeSizes, ReshapeTargetAndSameSizesFollowTheLayout) {
  Graph g;
  g.symbols = std::make_shared<SymbolTable>();
  g.symbols->add_symbol({"batch", 0, 0, 4});
  g.symbols->add_symbol({"n", 0, 1, 4});
  int32_t b = g.symbols->add({DimOp::kSymbol, 0, {}});
  int32_t n = g.symbols->add({DimOp::kSymbol, 1, {}});
  Value* x = g.add_value(DType::kFloat32, {4, 3, 5, 5}, "x");
  x->sym = {b, -1, -1, -1};
  x->layout = Layout::kChannelsLast;
  EXPECT_EQ(x->physical_sym(), (SymDims{b, -1, -1, -1}));
  EXPECT_EQ(x->reshape_target(), (Shape{-1, 5, 5, 3}));
  Value* y = g.add_value(DType::kFloat32, {4, 4}, "y");
  y->sym = {b, n};
  EXPECT_THROW(y->reshape_target(), std::invalid_argument);
  // [batch, n] and [n, batch] have equal traced sizes, but are not the same sizes.
  Value* z = g.add_value(DType::kFloat32, {4, 4}, "z");
  z->sym = {n, b};
  EXPECT_FALSE(same_sizes(*y, *z));
  Value* fixed = g.add_value(DType::kFloat32, {4, 4}, "fixed");
  Value* also = g.add_value(DType::kFloat32, {4, 4}, "also");
  also->sym = {-1, -1};
  EXPECT_TRUE(same_sizes(*fixed, *also));
  EXPECT_FALSE(same_sizes(*fixed, *y));
}

}  // namespace
}  // namespace ferry
