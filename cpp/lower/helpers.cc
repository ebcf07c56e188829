#include "lower/helpers.h"

#include <algorithm>

namespace ferry {

std::vector<int64_t> expand_ints(const Attrs& attrs, const std::string& name, size_t rank,
                                 int64_t fallback) {
  if (attrs.is_none(name)) return std::vector<int64_t>(rank, fallback);
  std::vector<int64_t> v = attrs.get_ints(name);
  if (v.size() == 1 && rank > 1) v.assign(rank, v[0]);
  if (v.size() != rank) {
    throw LowerError("'" + name + "' has " + std::to_string(v.size()) + " entries, expected " +
                     std::to_string(rank));
  }
  return v;
}

int64_t normalize_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  int64_t a = axis < 0 ? axis + r : axis;
  // A 0-d tensor accepts dim 0 / -1 in PyTorch.
  if (r == 0 && (axis == 0 || axis == -1)) return 0;
  if (a < 0 || a >= r) {
    throw LowerError("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
  }
  return a;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) throw LowerError("shapes do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<std::string> function_aliases(const std::string& name, bool functional,
                                          bool tensor_method, bool torch_namespace) {
  std::vector<std::string> out;
  if (functional) out.push_back("torch.nn.functional." + name);
  if (torch_namespace) out.push_back("torch." + name);
  if (tensor_method) out.push_back("torch.Tensor." + name);
  out.push_back("aten." + name + ".default");
  return out;
}

void add_unary(Registry& registry, const std::string& name, const std::string& tf_op,
               std::vector<std::string> extra_ops) {
  Rule rule;
  // Out-of-place and in-place spellings lower alike: the trace gives in-place results a new
  // SSA value, so `relu_` is just `relu` here.
  for (const std::string& spelling : {name, name + "_"}) {
    auto aliases = function_aliases(spelling, true, true, true);
    rule.ops.insert(rule.ops.end(), aliases.begin(), aliases.end());
  }
  rule.ops.insert(rule.ops.end(), extra_ops.begin(), extra_ops.end());
  rule.mapping = tf_op;
  rule.lower = [tf_op](LowerContext& ctx) { ctx.emit_output(tf_op, {ctx.in("input")}); };
  registry.add(std::move(rule));
}

}  // namespace ferry
