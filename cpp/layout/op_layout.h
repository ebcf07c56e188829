#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace ferry {

// What a TF-level op can do about channel order. This table is the data the layout stage
// works from; a lowering rule "declares" its capability by the ops it emits.
enum class LayoutClass : uint8_t {
  kChannelsLast,  // conv, pooling: the data input and the output are channels-last
  kPyTorchOrder,  // reshape that mixes axes, matmul, dense on rank >= 3: PyTorch order only
  kElementwise,   // operands share one order (broadcast-aligned); the output follows
  kAxes,          // any order; axis attributes are remapped (reductions, concat, slice, pad...)
  kTranspose,     // a permutation: absorbs an order change for free
  kReshape,       // passes the order through when it only adds/removes unit dims
  kPassThrough,   // user converter with MANUAL strategy: inputs as they are
  kCarried,  // control flow: any order, shared by all its values (a loop's result i keeps value
             // i's)
};

// How the attributes of a kAxes op name axes, so they can be remapped.
struct AxisAttrs {
  std::vector<std::string> single;   // one axis: "axis"
  std::vector<std::string> lists;    // a list of axes: "axes"
  std::vector<std::string> per_dim;  // one entry per dim: slice "begin", "end", "strides"
  std::vector<std::string> pairs;    // two entries per dim: pad "pads"
};

struct OpLayout {
  LayoutClass cls = LayoutClass::kElementwise;
  AxisAttrs axes;
  // Which inputs carry data whose order matters (others are kernels in a fixed layout).
  // Empty means every input.
  std::vector<size_t> data_inputs;
};

// The layout behaviour of one node (user converters depend on their declared strategy,
// `identity` on its `force` hint). Throws std::invalid_argument for an op not in
// docs/tf_ops.md.
OpLayout op_layout(const Node& node);

// Every TF-level op with its layout class (for the generated op reference, docs/ops.md).
std::vector<std::pair<std::string, LayoutClass>> tf_op_layouts();
// In words, e.g. "channels-last".
std::string layout_class_name(LayoutClass cls);

// The layout of a kAxes node's output when it works in `mode`, or nullopt when keeping the
// physical dim order of its input gives neither PyTorch nor channels-last order.
std::optional<Layout> axes_output_layout(const Node& node, Layout mode);

// Whether reshaping `in` (held in `in_layout`) to `out` (held in `out_layout`) can be done
// on the physical tensors: the dims merged or split must move as blocks that keep their
// internal order. Unit dims are free.
bool reshape_is_physical(const Shape& in, Layout in_layout, const Shape& out, Layout out_layout);

// The output layout a reshape can produce from an input held in `in_layout` without moving
// data (channels-last preferred), or nullopt.
std::optional<Layout> reshape_output_layout(const Shape& in, Layout in_layout, const Shape& out);

// The physical permutation a `transpose` node performs when its input is held in `in` and
// its output in `out`.
std::vector<int64_t> transpose_physical_perm(const std::vector<int64_t>& logical_perm, Layout in,
                                             Layout out);

// Permutation helpers. A layout permutation p means physical = logical.permute(p).
std::vector<int64_t> invert(const std::vector<int64_t>& perm);
bool is_identity(const std::vector<int64_t>& perm);

}  // namespace ferry
