// Control flow: a `while` node becomes WHILE, its condition and body written as subgraphs of
// their own (their inputs bind the loop values in order, already in the loop's physical order).
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_while(const Node* n) {
  int subgraph[2] = {-1, -1};
  for (const Body& body : n->bodies) {
    const int slot = body.role == "cond" ? 0 : body.role == "body" ? 1 : -1;
    if (slot < 0 || !body.graph) fail(n, "internal: the loop's " + body.role + " is not converted");
    const std::string prefix = n->scope.empty() ? "while" : n->scope + "/while";
    Writer inner(*body.graph, m_, options_);
    subgraph[slot] = inner.write_subgraph(prefix + "_" + std::to_string(n->id) + "/" + body.role);
    warnings_.insert(warnings_.end(), inner.warnings().begin(), inner.warnings().end());
  }
  if (subgraph[0] < 0 || subgraph[1] < 0) fail(n, "internal: a loop needs a condition and a body");
  std::vector<int32_t> in, out;
  for (const Value* v : n->inputs) in.push_back(tensor(v));
  for (const Value* v : n->outputs) out.push_back(tensor(v));
  m_.add_op(fb::BuiltinOperator_WHILE, 1, std::move(in), std::move(out),
            fb::BuiltinOptions_WhileOptions,
            fb::CreateWhileOptions(m_.fbb(), subgraph[0], subgraph[1]).Union());
}

}  // namespace ferry::tflite::detail
