#include "layout/op_layout.h"

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
    for (const char* op : {"mean", "sum", "max", "min", "prod"}) {
      t[op] = {C::kAxes, {{}, {"axes"}, {}, {}}, {}};
    }
    for (const char* op : {"softmax", "log_softmax", "concat"}) {
      t[op] = {C::kAxes, {{"axis"}, {}, {}, {}}, {}};
    }
    t["slice"] = {C::kAxes, {{}, {}, {"begin", "end", "strides"}, {}}, {}};
    t["pad"] = {C::kAxes, {{}, {}, {}, {"pads"}}, {}};
    t["transpose"] = {C::kTranspose, {}, {}};
    t["reshape"] = {C::kReshape, {}, {}};
    return t;
  }();
  return kTable;
}

}  // namespace

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
