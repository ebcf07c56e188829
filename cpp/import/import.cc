#include "import/import.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace ferry {
namespace {

bool passes_through(const TraceNode& node) {
  // Calls like `x.contiguous()` or `nn.Identity()` hand back the very tensor they were given:
  // they compute nothing, so they need no rule.
  if (node.outputs.empty()) return true;
  for (int64_t out : node.outputs) {
    bool found = false;
    for (const auto& arg : node.args) {
      if (std::find(arg.tensors.begin(), arg.tensors.end(), out) != arg.tensors.end()) found = true;
    }
    if (!found) return false;
  }
  return true;
}

struct Selection {
  std::vector<int64_t> chosen;       // convertible, in call order
  std::vector<int64_t> unsupported;  // leaves nothing can convert
};

void select(const Trace& trace, int64_t id, const std::function<bool(const std::string&)>& has_rule,
            Selection& out) {
  const TraceNode& node = trace.nodes[id];
  if (node.user_converter >= 0 || has_rule(node.op)) {
    out.chosen.push_back(id);
    return;
  }
  if (!node.children.empty()) {
    for (int64_t child : node.children) select(trace, child, has_rule, out);
    return;
  }
  if (!passes_through(node)) out.unsupported.push_back(id);
}

// Why a call's argument has no converted value: the call that makes it could not be
// converted (say which: that is the failure to fix), or it is made inside a call converted
// as a whole and escapes it.
std::string missing_input_message(const Trace& trace, const TraceNode& node, const std::string& arg,
                                  int64_t vid, const std::unordered_map<int64_t, int64_t>& producer,
                                  const std::vector<int64_t>& unsupported) {
  std::string head = "argument '" + arg + "' of '" + node.op + "' ";
  auto it = producer.find(vid);
  if (it != producer.end()) {
    const TraceNode& source = trace.nodes[it->second];
    bool failed =
        std::find(unsupported.begin(), unsupported.end(), it->second) != unsupported.end();
    return head + "comes from '" + source.op + "'" +
           (source.scope.empty() ? "" : " [" + source.scope + "]") +
           (failed ? ", which has no converter" : ", which failed to convert");
  }
  int64_t inner = trace.values.at(vid).producer;
  std::string made_in = inner >= 0 ? "'" + trace.nodes[inner].op + "'" : "another call";
  return head + "is made by " + made_in +
         " inside a call that is converted as a whole, and escapes it";
}

}  // namespace

ImportResult import_trace(const Trace& trace,
                          const std::function<bool(const std::string& op)>& has_rule) {
  ImportResult result;
  Selection sel;
  for (int64_t root : trace.roots) select(trace, root, has_rule, sel);

  // Which candidate computes each value (a node's pass-through outputs are not its own).
  std::unordered_map<int64_t, int64_t> producer;
  auto claim_outputs = [&](int64_t id) {
    const TraceNode& node = trace.nodes[id];
    for (int64_t out : node.outputs) {
      bool is_input = false;
      for (const auto& arg : node.args) {
        if (std::find(arg.tensors.begin(), arg.tensors.end(), out) != arg.tensors.end()) {
          is_input = true;
        }
      }
      if (!is_input) producer.emplace(out, id);
    }
  };
  for (int64_t id : sel.chosen) claim_outputs(id);
  for (int64_t id : sel.unsupported) claim_outputs(id);

  // Liveness, backwards from the model's outputs.
  std::unordered_set<int64_t> live_nodes;
  std::unordered_set<int64_t> seen_values;
  std::vector<int64_t> stack(trace.outputs.begin(), trace.outputs.end());
  while (!stack.empty()) {
    int64_t vid = stack.back();
    stack.pop_back();
    if (!seen_values.insert(vid).second) continue;
    const TraceValue& value = trace.values.at(vid);
    if (value.is_input || value.constant) continue;
    auto it = producer.find(vid);
    if (it == producer.end()) {
      ImportProblem problem;
      problem.node = value.producer;
      std::string what = "the tensor '" + value.name + "'";
      if (value.name.empty()) {
        what = value.producer >= 0 ? "the result of '" + trace.nodes[value.producer].op + "'"
                                   : "a tensor";
        if (value.producer >= 0 && !trace.nodes[value.producer].scope.empty()) {
          what += " [" + trace.nodes[value.producer].scope + "]";
        }
      }
      problem.message = what +
                        " is needed, but it is written inside another call (an in-place "
                        "write into a view whose region is not a slice, or a value that "
                        "escapes a call converted as a whole); write the update out of place "
                        "(torch.where, torch.cat, or x[...] = value on the base tensor)";
      result.errors.push_back(problem);
      continue;
    }
    if (!live_nodes.insert(it->second).second) continue;
    for (const auto& arg : trace.nodes[it->second].args) {
      stack.insert(stack.end(), arg.tensors.begin(), arg.tensors.end());
    }
  }

  for (int64_t id : sel.unsupported) {
    if (live_nodes.count(id)) {
      result.unsupported.push_back({id, "no converter for '" + trace.nodes[id].op + "'"});
    } else {
      result.unused.push_back(id);
    }
  }

  auto graph = std::make_unique<Graph>();
  graph->symbols = trace.symbols;
  std::unordered_map<int64_t, Value*> mapping;
  auto value_for = [&](int64_t vid) -> Value* {
    if (auto it = mapping.find(vid); it != mapping.end()) return it->second;
    const TraceValue& tv = trace.values.at(vid);
    if (!tv.constant) return nullptr;
    Value* v =
        graph->add_constant(tv.constant, tv.name.empty() ? "c" + std::to_string(vid) : tv.name);
    v->origin = vid;
    mapping[vid] = v;
    return v;
  };
  for (size_t i = 0; i < trace.inputs.size(); ++i) {
    const TraceValue& tv = trace.values.at(trace.inputs[i]);
    std::string name = i < trace.input_names.size() ? trace.input_names[i] : tv.name;
    Value* v = graph->add_value(tv.dtype, tv.shape, name);
    v->sym = tv.sym;
    v->origin = tv.id;
    mapping[tv.id] = v;
    graph->inputs.push_back(v);
    graph->input_names.push_back(name);
  }

  for (int64_t id : sel.chosen) {
    if (!live_nodes.count(id)) {
      result.unused.push_back(id);
      continue;
    }
    result.converted.push_back(id);
    const TraceNode& tn = trace.nodes[id];
    std::vector<Value*> inputs;
    std::vector<std::string> input_args;
    Attrs attrs;
    for (const auto& arg : tn.args) {
      if (arg.tensors.empty() && !arg.is_tensor_list) {
        attrs.set(arg.name, arg.value);
        continue;
      }
      for (int64_t vid : arg.tensors) {
        Value* v = value_for(vid);
        if (!v) {
          result.errors.push_back(
              {id, missing_input_message(trace, tn, arg.name, vid, producer, sel.unsupported)});
          continue;
        }
        inputs.push_back(v);
        input_args.push_back(arg.name);
      }
    }
    std::string op = tn.op;
    if (tn.user_converter >= 0) {
      op = "ferry.user";
      attrs.set("converter", tn.user_converter);
      attrs.set("strategy", tn.user_strategy);
      attrs.set("target", tn.op);
    }
    Node* node = graph->add_node(op, std::move(inputs), std::move(attrs));
    node->input_args = std::move(input_args);
    node->scope = tn.scope;
    node->origin = id;
    node->sym_args = tn.sym_args;
    for (const auto& [role, body] : tn.bodies) node->bodies.push_back({role, body, nullptr});
    for (int64_t vid : tn.outputs) {
      if (mapping.count(vid)) continue;  // handed through unchanged
      const TraceValue& tv = trace.values.at(vid);
      Value* v = graph->add_value(tv.dtype, tv.shape, "t" + std::to_string(vid));
      v->sym = tv.sym;
      v->origin = vid;
      graph->add_output_to(node, v);
      mapping[vid] = v;
    }
  }

  for (size_t i = 0; i < trace.outputs.size(); ++i) {
    Value* v = value_for(trace.outputs[i]);
    if (!v) continue;  // reported above as a liveness error or unsupported op
    graph->outputs.push_back(v);
    graph->output_names.push_back(i < trace.output_names.size() ? trace.output_names[i]
                                                                : "output_" + std::to_string(i));
  }
  result.graph = std::move(graph);
  return result;
}

}  // namespace ferry
