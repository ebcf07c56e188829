#pragma once

#include <stdexcept>
#include <string>

#include "ir/graph.h"

namespace ferry {

class VerifyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks the invariants every pass relies on: nodes in topological order, use lists that
// match the inputs, one producer per computed value, graph outputs defined. Throws
// VerifyError naming the stage and the first broken invariant.
void verify(const Graph& graph, const std::string& stage);

}  // namespace ferry
