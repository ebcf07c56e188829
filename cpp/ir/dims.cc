#include "ir/dims.h"

#include <algorithm>
#include <stdexcept>

namespace ferry {

namespace {

bool same(const DimExpr& a, const DimExpr& b) {
  if (a.op != b.op || a.symbol != b.symbol || a.args.size() != b.args.size()) return false;
  for (size_t i = 0; i < a.args.size(); ++i) {
    if (a.args[i].expr != b.args[i].expr || a.args[i].constant != b.args[i].constant) return false;
  }
  return true;
}

// Python's floor division and modulo, which PyTorch's size expressions use.
int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) throw std::invalid_argument("size expression divides by zero");
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

}  // namespace

int64_t SymbolTable::add_symbol(Symbol symbol) {
  symbols_.push_back(std::move(symbol));
  return static_cast<int64_t>(symbols_.size()) - 1;
}

int32_t SymbolTable::add(DimExpr expr) {
  if (expr.op == DimOp::kSymbol &&
      (expr.symbol < 0 || expr.symbol >= static_cast<int64_t>(symbols_.size())))
    throw std::invalid_argument("size expression names an unknown symbol");
  for (const DimOperand& a : expr.args) {
    if (a.expr >= static_cast<int32_t>(exprs_.size()))
      throw std::invalid_argument("size expression refers to a later expression");
  }
  // Tables hold tens of expressions: a linear search keeps this simple.
  for (size_t i = 0; i < exprs_.size(); ++i) {
    if (same(exprs_[i], expr)) return static_cast<int32_t>(i);
  }
  exprs_.push_back(std::move(expr));
  return static_cast<int32_t>(exprs_.size()) - 1;
}

int64_t SymbolTable::evaluate(int32_t index, const std::vector<int64_t>& values) const {
  const DimExpr& e = expr(index);
  if (e.op == DimOp::kSymbol) return values.at(static_cast<size_t>(e.symbol));
  std::vector<int64_t> args;
  for (const DimOperand& a : e.args)
    args.push_back(a.expr >= 0 ? evaluate(a.expr, values) : a.constant);
  if (args.empty()) throw std::invalid_argument("size expression without operands");
  int64_t r = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    switch (e.op) {
      case DimOp::kAdd:
        r += args[i];
        break;
      case DimOp::kMul:
        r *= args[i];
        break;
      case DimOp::kFloorDiv:
        r = floor_div(r, args[i]);
        break;
      case DimOp::kMod:
        r = floor_mod(r, args[i]);
        break;
      case DimOp::kMax:
        r = std::max(r, args[i]);
        break;
      case DimOp::kMin:
        r = std::min(r, args[i]);
        break;
      case DimOp::kSymbol:
        break;
    }
  }
  return r;
}

int64_t SymbolTable::hint(int32_t index) const {
  std::vector<int64_t> hints;
  for (const Symbol& s : symbols_) hints.push_back(s.hint);
  return evaluate(index, hints);
}

std::string SymbolTable::render(int32_t index) const {
  const DimExpr& e = expr(index);
  if (e.op == DimOp::kSymbol) return symbols_.at(static_cast<size_t>(e.symbol)).name;
  std::vector<std::string> parts;
  for (const DimOperand& a : e.args)
    parts.push_back(a.expr >= 0 ? render(a.expr) : std::to_string(a.constant));
  auto join = [&](const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
    return out;
  };
  switch (e.op) {
    case DimOp::kAdd:
      return "(" + join(" + ") + ")";
    case DimOp::kMul:
      return "(" + join("*") + ")";
    case DimOp::kFloorDiv:
      return "(" + join("//") + ")";
    case DimOp::kMod:
      return "(" + join(" % ") + ")";
    case DimOp::kMax:
      return "max(" + join(", ") + ")";
    case DimOp::kMin:
      return "min(" + join(", ") + ")";
    case DimOp::kSymbol:
      break;
  }
  return "?";
}

}  // namespace ferry
