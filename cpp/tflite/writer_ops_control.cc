// Control flow: a `while` node becomes WHILE and an `if` node IF, each function it runs written
// as a subgraph of its own (its inputs bind the node's values in order, already in their
// physical order; IF passes all its inputs but the predicate).
#include <string>
#include <vector>

#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_control_flow(const Node* n) {
  const bool loop = n->op == "while";
  const std::vector<std::string> roles =
      loop ? std::vector<std::string>{"cond", "body"} : std::vector<std::string>{"then", "else"};
  int subgraph[2] = {-1, -1};
  for (const Body& body : n->bodies) {
    const int slot = body.role == roles[0] ? 0 : body.role == roles[1] ? 1 : -1;
    if (slot < 0 || !body.graph) fail(n, "internal: the " + body.role + " is not converted");
    const std::string prefix = (n->scope.empty() ? "" : n->scope + "/") + n->op + "_";
    Writer inner(*body.graph, m_, options_, kept_float_);
    subgraph[slot] = inner.write_subgraph(prefix + std::to_string(n->id) + "/" + body.role);
    warnings_.insert(warnings_.end(), inner.warnings().begin(), inner.warnings().end());
  }
  if (subgraph[0] < 0 || subgraph[1] < 0)
    fail(n, "internal: needs its " + roles[0] + " and " + roles[1] + " functions");
  std::vector<int32_t> in, out;
  for (const Value* v : n->inputs) in.push_back(tensor(v));
  for (const Value* v : n->outputs) out.push_back(tensor(v));  // every one, read or not
  if (loop) {
    m_.add_op(fb::BuiltinOperator_WHILE, 1, std::move(in), std::move(out),
              fb::BuiltinOptions_WhileOptions,
              fb::CreateWhileOptions(m_.fbb(), subgraph[0], subgraph[1]).Union());
  } else {
    m_.add_op(fb::BuiltinOperator_IF, 1, std::move(in), std::move(out),
              fb::BuiltinOptions_IfOptions,
              fb::CreateIfOptions(m_.fbb(), subgraph[0], subgraph[1]).Union());
  }
}

}  // namespace ferry::tflite::detail
