#include "ir/verify.h"

#include <algorithm>
#include <unordered_set>

namespace ferry {
namespace {

[[noreturn]] void fail(const std::string& stage, const std::string& what) {
  throw VerifyError("IR verification failed after '" + stage + "': " + what);
}

}  // namespace

void verify(const Graph& graph, const std::string& stage) {
  std::unordered_set<const Value*> defined;
  for (const Value* in : graph.inputs) {
    if (in->producer) fail(stage, "graph input " + in->name + " has a producer");
    defined.insert(in);
  }
  for (const Node* node : graph.nodes()) {
    for (const Value* in : node->inputs) {
      if (!in) continue;
      if (!in->is_constant() && !defined.count(in)) {
        fail(stage, "node " + node->op + " #" + std::to_string(node->id) + " uses " + in->name +
                        " before it is defined");
      }
      if (std::count(in->users.begin(), in->users.end(), node) !=
          std::count(node->inputs.begin(), node->inputs.end(), in)) {
        fail(stage, "use list of " + in->name + " does not match node " + node->op);
      }
    }
    for (const Body& body : node->bodies) {
      if (!body.graph) continue;
      // A body binds the node's inputs in order, as they are held physically.
      const Graph& g = *body.graph;
      const std::vector<Value*> bound = body_inputs(*node);
      if (g.inputs.size() != bound.size())
        fail(stage, "the " + body.role + " of " + node->op + " takes " +
                        std::to_string(g.inputs.size()) + " inputs for " +
                        std::to_string(bound.size()));
      for (size_t i = 0; i < g.inputs.size(); ++i) {
        if (g.inputs[i]->physical_shape() != bound[i]->physical_shape() ||
            g.inputs[i]->dtype != bound[i]->dtype)
          fail(stage, "input " + std::to_string(i) + " of the " + body.role + " of " + node->op +
                          " differs from the value it binds");
      }
    }
    for (const Value* out : node->outputs) {
      if (out->producer != node)
        fail(stage, "output " + out->name + " of " + node->op + " has another producer");
      if (out->is_constant()) fail(stage, "constant " + out->name + " is produced by " + node->op);
      defined.insert(out);
    }
  }
  for (const Value* out : graph.outputs) {
    if (!out->is_constant() && !defined.count(out))
      fail(stage, "graph output " + out->name + " is not defined");
  }
}

}  // namespace ferry
