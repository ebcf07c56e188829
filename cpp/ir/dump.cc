#include "ir/dump.h"

#include <sstream>

namespace ferry {
namespace {

std::string type_of(const Value& v) {
  std::ostringstream out;
  out << dtype_name(v.dtype) << "[";
  for (size_t i = 0; i < v.shape.size(); ++i) out << (i ? "," : "") << v.shape[i];
  out << "]";
  if (v.layout != Layout::kPyTorch) out << " " << layout_name(v.layout);
  return out.str();
}

std::string ref(const Value* v) { return v ? "%" + v->name : "None"; }

}  // namespace

std::string dump(const Graph& graph) {
  std::ostringstream out;
  out << "graph(";
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    out << (i ? ", " : "") << ref(graph.inputs[i]) << ": " << type_of(*graph.inputs[i]);
  }
  out << ") {\n";
  // Constants first, each once, in order of first use.
  std::vector<const Value*> constants;
  std::vector<bool> seen(graph.values().size(), false);
  for (const Node* node : graph.nodes()) {
    for (const Value* in : node->inputs) {
      if (in && in->is_constant() && !seen[in->id]) {
        seen[in->id] = true;
        constants.push_back(in);
      }
    }
  }
  for (const Value* c : constants) out << "  " << ref(c) << ": " << type_of(*c) << " = const\n";
  for (const Node* node : graph.nodes()) {
    out << "  ";
    for (size_t i = 0; i < node->outputs.size(); ++i) {
      out << (i ? ", " : "") << ref(node->outputs[i]) << ": " << type_of(*node->outputs[i]);
    }
    out << " = " << node->op << "(";
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      out << (i ? ", " : "");
      if (i < node->input_args.size()) out << node->input_args[i] << "=";
      out << ref(node->inputs[i]);
    }
    out << ")";
    if (!node->attrs.items().empty()) {
      out << " {";
      bool first = true;
      for (const auto& [name, attr] : node->attrs.items()) {
        out << (first ? "" : ", ") << name << "=" << attr_to_string(attr);
        first = false;
      }
      out << "}";
    }
    if (!node->scope.empty()) out << "  # " << node->scope;
    out << "\n";
    for (const Body& body : node->bodies) {
      if (!body.graph) continue;  // still a trace: converted after the layout around it
      std::istringstream inner(dump(*body.graph));
      out << "    " << body.role << ":\n";
      for (std::string line; std::getline(inner, line);) out << "    " << line << "\n";
    }
  }
  out << "  return ";
  for (size_t i = 0; i < graph.outputs.size(); ++i) out << (i ? ", " : "") << ref(graph.outputs[i]);
  out << "\n}\n";
  return out.str();
}

}  // namespace ferry
