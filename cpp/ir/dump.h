#pragma once

#include <string>

#include "ir/graph.h"

namespace ferry {

// A readable text form of the graph, one node per line, for debugging and for tests:
//   %7: float32[1,16,128,128] = conv(%0, %w, %b) {strides=[2, 2]}  # conv
std::string dump(const Graph& graph);

}  // namespace ferry
