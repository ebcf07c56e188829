#pragma once

#include <string>

#include "ir/graph.h"

namespace ferry {

// Each pass returns whether it changed the graph, so the pipeline can run a group of them to
// a fixed point instead of a fixed number of rounds.

// identity(x) -> x; transpose(x, identity) -> x; reshape(x, shape(x)) -> x
bool remove_noops(Graph& graph);
// transpose(transpose(x, p), q) -> transpose(x, p∘q), when the inner one has no other use
bool fold_transposes(Graph& graph);
// transpose(x, p) -> reshape(x) when p only moves unit dims; reshape(reshape(x)) -> reshape(x)
bool fold_reshapes(Graph& graph);
// Drops nodes none of whose outputs is used or a graph output.
bool eliminate_dead_code(Graph& graph);
// A permutation of the channel axis (reshape -> transpose -> reshape) next to a conv with
// groups = 1 or a dense layer goes into the layer's weights (channel_permutation.cc).
bool fold_channel_permutations(Graph& graph);

// Counts TRANSPOSE nodes and the bytes they move per inference.
struct TransposeStats {
  int64_t count = 0;
  int64_t bytes = 0;
};
TransposeStats transpose_stats(const Graph& graph);

}  // namespace ferry
