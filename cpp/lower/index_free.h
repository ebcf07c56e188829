#pragma once

// Advanced indexing at free sizes (index_free.cc).
#include <vector>

#include "lower/registry.h"

namespace ferry {

// Whether x or an index has a size that follows a free input dim.
bool index_is_free(const Value& x, const std::vector<Value*>& indices);

// x[indices] (integer tensors at dims `positions`, the other dims taken whole) with flat
// positions computed at run time: the value of the call's output.
Value* free_advanced_index(LowerContext& ctx, Value* x, const std::vector<Value*>& indices,
                           const std::vector<int64_t>& positions);

}  // namespace ferry
