#include "layout/op_layout.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace ferry {
namespace {

const std::map<std::string, OpLayout>& table() {
  using C = LayoutClass;
  static const std::map<std::string, OpLayout> kTable = [] {
    std::map<std::string, OpLayout> t;
    for (const char* op : {"conv", "depthwise_conv"}) t[op] = {C::kChannelsLast, {}, {0}};
    for (const char* op : {"max_pool", "avg_pool"}) t[op] = {C::kChannelsLast, {}, {0}};
    t["resize"] = {C::kChannelsLast, {}, {0}};  // resizes the spatial dims of [N, H, W, C]
    // Blocks of [N, H, W, C] pixels to and from channels: TensorFlow's channel order is defined
    // on the channels-last tensor.
    for (const char* op : {"space_to_depth", "depth_to_space"}) t[op] = {C::kChannelsLast, {}, {0}};
    for (const char* op : {"matmul", "dense", "embedding"}) t[op] = {C::kPyTorchOrder, {}, {0, 1}};
    t["dense"].data_inputs = {0};
    t["embedding"].data_inputs = {0};
    for (const char* op :
         {"relu",         "relu6",         "sigmoid",     "tanh",       "silu",      "exp",
          "log",          "sqrt",          "rsqrt",       "neg",        "abs",       "erf",
          "floor",        "ceil",          "round",       "sin",        "cos",       "logical_not",
          "hard_sigmoid", "hard_swish",    "gelu",        "leaky_relu", "elu",       "clip",
          "add",          "sub",           "mul",         "div",        "floor_div", "pow",
          "maximum",      "minimum",       "equal",       "not_equal",  "less",      "less_equal",
          "greater",      "greater_equal", "logical_and", "logical_or", "where",     "cast",
          "identity"}) {
      t[op] = {C::kElementwise, {}, {}};
    }
    t["batch_norm"] = {C::kAxes, {{"axis"}, {}, {}, {}}, {0}};
    t["layer_norm"] = {C::kAxes, {{}, {"axes"}, {}, {}}, {0}};
    // Statistics over every axis but the batch (axis 0 in either order) and the channel axis,
    // which is remapped: channels-last group norm needs no transpose.
    t["group_norm"] = {C::kAxes, {{"axis"}, {}, {}, {}}, {0}};
    for (const char* op : {"mean", "sum", "max", "min", "prod"}) {
      t[op] = {C::kAxes, {{}, {"axes"}, {}, {}}, {}};
    }
    for (const char* op : {"softmax", "log_softmax", "concat"}) {
      t[op] = {C::kAxes, {{"axis"}, {}, {}, {}}, {}};
    }
    // With free sizes a slice may take bounds at run time (`begin_from`, `end_from`: which
    // input holds each dim's bound); those int32 inputs have no order.
    t["slice"] = {
        C::kAxes, {{}, {}, {"begin", "end", "strides", "begin_from", "end_from"}, {}}, {0}};
    t["broadcast_to"] = {C::kAxes, {{}, {}, {"shape"}, {}}, {}};
    t["slice_update"] = {C::kAxes, {{}, {}, {"begin", "end", "strides"}, {}}, {}};
    t["pad"] = {C::kAxes, {{}, {}, {}, {"pads"}}, {}};
    t["transpose"] = {C::kTranspose, {}, {}};
    t["reshape"] = {C::kReshape, {}, {}};
    // Free sizes: the run-time sizes of some axes (remapped with the input's order), and a
    // reshape to a shape computed at run time (in PyTorch's order).
    t["dims"] = {C::kAxes, {{}, {"axes"}, {}, {}}, {}};
    t["reshape_to"] = {C::kPyTorchOrder, {}, {0}};
    // Tensors made at run time from sizes: positions, and masks or states of a computed shape.
    t["range"] = {C::kPyTorchOrder, {}, {}};
    t["fill"] = {C::kPyTorchOrder, {}, {}};
    // Recurrent layers: the sequence and the per-direction initial states; weights are fixed.
    t["gru"] = {C::kPyTorchOrder, {}, {0, 1, 5}};
    t["lstm"] = {C::kPyTorchOrder, {}, {0, 1, 2, 6, 7}};
    // Elementwise math and scans: binary ops broadcast like the others; a scan or a reversal
    // works on any permutation once its axes are remapped.
    for (const char* op : {"atan2", "floor_mod"}) t[op] = {C::kElementwise, {}, {}};
    t["cumsum"] = {C::kAxes, {{"axis"}, {}, {}, {}}, {}};
    t["reverse"] = {C::kAxes, {{}, {"axes"}, {}, {}}, {}};
    // A gather keeps x's rank for a 1-D index, so its axis can follow any order then; the
    // index is data too (a computed index of rank >= 3 must arrive in PyTorch order).
    t["gather"] = {C::kAxes, {{"axis"}, {}, {}, {}}, {}};
    // Flat positions and the last axis: both are defined on the PyTorch-order tensor.
    t["scatter_nd"] = {C::kPyTorchOrder, {}, {}};
    t["top_k"] = {C::kPyTorchOrder, {}, {}};
    // Gathers [N, H, W, C] pixel rows; the grid (input 1) is pinned to PyTorch order by the
    // lowering (an order hint before it), since its last axis holds (x, y), not channels.
    t["grid_sample"] = {C::kChannelsLast, {}, {0}};
    t["conv_transpose"] = {C::kChannelsLast, {}, {0}};  // as conv: [N, *spatial, C]
    // A loop's values enter and leave its body in one order: the body is converted for
    // whichever order its surroundings chose.
    t["while"] = {C::kCarried, {}, {}};
    // A branch's values likewise: its predicate is a scalar, without order.
    t["if"] = {C::kCarried, {}, {}};
    return t;
  }();
  return kTable;
}

}  // namespace

std::vector<std::pair<std::string, LayoutClass>> tf_op_layouts() {
  std::vector<std::pair<std::string, LayoutClass>> out;
  for (const auto& [op, layout] : table()) out.emplace_back(op, layout.cls);
  return out;
}

std::string layout_class_name(LayoutClass cls) {
  switch (cls) {
    case LayoutClass::kChannelsLast:
      return "channels-last";
    case LayoutClass::kPyTorchOrder:
      return "PyTorch order";
    case LayoutClass::kElementwise:
      return "any order (operands share it)";
    case LayoutClass::kAxes:
      return "any order (axes remapped)";
    case LayoutClass::kTranspose:
      return "absorbs an order change";
    case LayoutClass::kReshape:
      return "any order when only unit dims change, else PyTorch order";
    case LayoutClass::kPassThrough:
      return "as the user converter declares";
    case LayoutClass::kCarried:
      return "any order (each result keeps its value's)";
  }
  return "?";
}

OpLayout op_layout(const Node& node) {
  if (node.op == "user") {
    const std::string& strategy = node.attrs.get_string("strategy");
    if (strategy == "force_tensorflow_order") return {LayoutClass::kChannelsLast, {}, {}};
    if (strategy == "force_pytorch_order") return {LayoutClass::kPyTorchOrder, {}, {}};
    if (strategy == "manual") return {LayoutClass::kPassThrough, {}, {}};
    return {LayoutClass::kElementwise, {}, {}};  // minimum_transpositions
  }
  if (node.op == "identity" && node.attrs.has("force")) {
    return node.attrs.get_string("force") == "tensorflow"
               ? OpLayout{LayoutClass::kChannelsLast, {}, {}}
               : OpLayout{LayoutClass::kPyTorchOrder, {}, {}};
  }
  auto it = table().find(node.op);
  if (it == table().end()) throw std::invalid_argument("no layout entry for op '" + node.op + "'");
  return it->second;
}

std::vector<int64_t> invert(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  return inv;
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

}  // namespace ferry

namespace ferry {

std::optional<Layout> axes_output_layout(const Node& node, Layout mode) {
  // Run-time sizes are a 1-D vector whatever order they are read from.
  if (node.op == "dims") return Layout::kPyTorch;
  const Value* in = node.inputs[0];
  const Value* out = node.outputs[0];
  std::vector<int64_t> p = layout_perm(mode, in->rank());
  std::vector<int64_t> induced;
  const bool reduction = node.attrs.has("keepdims");
  if (!reduction || node.attrs.get_bool("keepdims")) {
    if (out->rank() != in->rank()) return std::nullopt;
    induced = p;
  } else {
    std::vector<int64_t> axes = node.attrs.get_ints("axes");
    for (int64_t logical : p) {
      if (std::find(axes.begin(), axes.end(), logical) != axes.end()) continue;
      int64_t below =
          std::count_if(axes.begin(), axes.end(), [&](int64_t a) { return a < logical; });
      induced.push_back(logical - below);
    }
  }
  if (induced == layout_perm(Layout::kPyTorch, out->rank())) return Layout::kPyTorch;
  if (induced == layout_perm(Layout::kChannelsLast, out->rank())) return Layout::kChannelsLast;
  return std::nullopt;
}

namespace {

// Assigns each non-unit dim of `a` and `b` to a block: consecutive dims whose sizes multiply
// to the same number on both sides. Returns false when the sizes do not factor that way.
bool reshape_blocks(const Shape& a, const Shape& b, std::vector<int>& block_a,
                    std::vector<int>& block_b) {
  block_a.assign(a.size(), -1);
  block_b.assign(b.size(), -1);
  size_t i = 0, j = 0;
  int block = 0;
  auto skip_units = [](const Shape& s, size_t& k) {
    while (k < s.size() && s[k] == 1) ++k;
  };
  skip_units(a, i);
  skip_units(b, j);
  while (i < a.size() && j < b.size()) {
    int64_t pa = a[i], pb = b[j];
    block_a[i++] = block;
    block_b[j++] = block;
    while (pa != pb) {
      if (pa < pb) {
        skip_units(a, i);
        if (i >= a.size()) return false;
        pa *= a[i];
        block_a[i++] = block;
      } else {
        skip_units(b, j);
        if (j >= b.size()) return false;
        pb *= b[j];
        block_b[j++] = block;
      }
    }
    ++block;
    skip_units(a, i);
    skip_units(b, j);
  }
  return i >= a.size() && j >= b.size();
}

// The blocks in physical order, each once, or empty when a block is split up physically or
// its dims are out of their logical order.
std::optional<std::vector<int>> physical_blocks(const Shape& shape, Layout layout,
                                                const std::vector<int>& block) {
  std::vector<int> order;
  std::vector<int64_t> last_dim(shape.size() + 1, -1);
  for (int64_t dim : layout_perm(layout, shape.size())) {
    if (shape[dim] == 1) continue;
    int b = block[dim];
    if (order.empty() || order.back() != b) {
      if (std::find(order.begin(), order.end(), b) != order.end()) return std::nullopt;
      order.push_back(b);
    } else if (dim < last_dim[b]) {
      return std::nullopt;
    }
    last_dim[b] = dim;
  }
  return order;
}

}  // namespace

bool reshape_is_physical(const Shape& in, Layout in_layout, const Shape& out, Layout out_layout) {
  std::vector<int> block_in, block_out;
  if (!reshape_blocks(in, out, block_in, block_out)) return false;
  auto a = physical_blocks(in, in_layout, block_in);
  auto b = physical_blocks(out, out_layout, block_out);
  return a && b && *a == *b;
}

std::optional<Layout> reshape_output_layout(const Shape& in, Layout in_layout, const Shape& out) {
  for (Layout candidate : {Layout::kChannelsLast, Layout::kPyTorch}) {
    if (candidate == Layout::kChannelsLast && out.size() < 3) continue;
    if (reshape_is_physical(in, in_layout, out, candidate)) return candidate;
  }
  return std::nullopt;
}

std::vector<int64_t> transpose_physical_perm(const std::vector<int64_t>& logical_perm, Layout in,
                                             Layout out) {
  const size_t rank = logical_perm.size();
  std::vector<int64_t> inv_in = invert(layout_perm(in, rank));
  std::vector<int64_t> p_out = layout_perm(out, rank);
  std::vector<int64_t> physical(rank);
  for (size_t j = 0; j < rank; ++j) physical[j] = inv_in[logical_perm[p_out[j]]];
  return physical;
}

}  // namespace ferry
