#include "ir/dims.h"

#include <gtest/gtest.h>

#include <stdexcept>

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
