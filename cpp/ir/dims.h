#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

// Free sizes. A model converted with free input dims (a batch, a sequence length, an image
// size) keeps each of them as a symbol; every size that follows one is an expression over
// symbols, derived by PyTorch's own shape functions while tracing. A value's `shape` keeps the
// traced sizes (the hints) so that everything sized by bytes (layout costs, validation) works
// as before; `Value::sym` says which of them are free.

struct Symbol {
  std::string name;   // "batch", or "x_dim0" for a None in input_shapes
  int64_t input = 0;  // read from this graph input ...
  int64_t dim = 0;    // ... at this dim (its first declaration)
  int64_t hint = 0;   // its traced size
};

enum class DimOp : uint8_t { kSymbol, kAdd, kMul, kFloorDiv, kMod, kMax, kMin };

// An operand: another expression (expr >= 0) or a constant.
struct DimOperand {
  int32_t expr = -1;
  int64_t constant = 0;
};

struct DimExpr {
  DimOp op = DimOp::kSymbol;
  int64_t symbol = -1;  // for kSymbol
  std::vector<DimOperand> args;
};

// The symbols of one conversion and the expressions over them; shared by the PyTorch-level
// and the TF-level graphs, so a value's `sym` entries index the same table in both.
class SymbolTable {
 public:
  int64_t add_symbol(Symbol symbol);
  // Equal expressions get one index, so two sizes are the same size iff their indices match.
  int32_t add(DimExpr expr);

  const std::vector<Symbol>& symbols() const { return symbols_; }
  const DimExpr& expr(int32_t index) const { return exprs_.at(static_cast<size_t>(index)); }
  size_t size() const { return exprs_.size(); }

  // The expression's value with each symbol at `values[symbol]`.
  int64_t evaluate(int32_t index, const std::vector<int64_t>& values) const;
  int64_t hint(int32_t index) const;
  // For messages: "batch", "((h - 1)//2 + 1)".
  std::string render(int32_t index) const;

 private:
  std::vector<Symbol> symbols_;
  std::vector<DimExpr> exprs_;
};

// A value's free dims: empty when every size is fixed, else one entry per dim, -1 for a fixed
// size and otherwise the index of its expression in the graph's SymbolTable.
using SymDims = std::vector<int32_t>;

inline bool has_free_dims(const SymDims& sym) {
  for (int32_t s : sym)
    if (s >= 0) return true;
  return false;
}

}  // namespace ferry
