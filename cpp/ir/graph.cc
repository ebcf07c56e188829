#include "ir/graph.h"

#include <algorithm>
#include <stdexcept>

namespace ferry {

std::string_view layout_name(Layout layout) {
  switch (layout) {
    case Layout::kPyTorch:
      return "pytorch";
    case Layout::kChannelsLast:
      return "channels_last";
    case Layout::kFixed:
      return "fixed";
  }
  return "?";
}

std::vector<int64_t> layout_perm(Layout layout, size_t rank) {
  std::vector<int64_t> perm(rank);
  for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(i);
  if (layout == Layout::kChannelsLast && rank >= 3) {
    for (size_t i = 1; i + 1 < rank; ++i) perm[i] = static_cast<int64_t>(i + 1);
    perm[rank - 1] = 1;
  }
  return perm;
}

Shape Value::physical_shape() const {
  if (layout == Layout::kFixed) return shape;
  auto perm = layout_perm(layout, shape.size());
  Shape out(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) out[i] = shape[perm[i]];
  return out;
}

SymDims Value::physical_sym() const {
  if (sym.empty() || layout == Layout::kFixed) return sym;
  auto perm = layout_perm(layout, sym.size());
  SymDims out(sym.size());
  for (size_t i = 0; i < sym.size(); ++i) out[i] = sym[perm[i]];
  return out;
}

Shape Value::reshape_target() const {
  Shape target = physical_shape();
  SymDims free = physical_sym();
  int found = 0;
  for (size_t d = 0; d < free.size(); ++d) {
    if (free[d] < 0) continue;
    if (++found > 1)
      throw std::invalid_argument("a reshape to more than one free size is not supported yet");
    target[d] = -1;
  }
  return target;
}

std::vector<Value*> body_inputs(const Node& node) {
  if (node.op != "if") return node.inputs;
  return std::vector<Value*>(node.inputs.begin() + 1, node.inputs.end());
}

bool same_sizes(const Value& a, const Value& b) {
  if (a.physical_shape() != b.physical_shape()) return false;
  SymDims sa = a.physical_sym(), sb = b.physical_sym();
  if (!has_free_dims(sa) && !has_free_dims(sb)) return true;
  return sa == sb;
}

Value* Node::input(const std::string& arg) const {
  for (size_t i = 0; i < input_args.size() && i < inputs.size(); ++i) {
    if (input_args[i] == arg) return inputs[i];
  }
  return nullptr;
}

std::vector<Value*> Node::inputs_of(const std::string& arg) const {
  std::vector<Value*> out;
  for (size_t i = 0; i < input_args.size() && i < inputs.size(); ++i) {
    if (input_args[i] == arg) out.push_back(inputs[i]);
  }
  return out;
}

Value* Graph::add_value(DType dtype, Shape shape, std::string name) {
  auto value = std::make_unique<Value>();
  value->id = static_cast<int64_t>(values_.size());
  value->dtype = dtype;
  value->shape = std::move(shape);
  value->name = name.empty() ? "v" + std::to_string(value->id) : std::move(name);
  values_.push_back(std::move(value));
  return values_.back().get();
}

Value* Graph::add_constant(std::shared_ptr<const TensorData> data, std::string name) {
  Value* value = add_value(data->dtype(), data->shape(), std::move(name));
  value->constant = std::move(data);
  return value;
}

Node* Graph::add_node(std::string op, std::vector<Value*> node_inputs, Attrs attrs, Node* before) {
  auto node = std::make_unique<Node>();
  node->id = next_node_id_++;
  node->op = std::move(op);
  node->inputs = std::move(node_inputs);
  node->attrs = std::move(attrs);
  Node* raw = node.get();
  for (Value* in : raw->inputs) {
    if (in) in->users.push_back(raw);
  }
  auto where = before ? before->position_ : nodes_.end();
  raw->position_ = nodes_.insert(where, std::move(node));
  return raw;
}

void Graph::add_output_to(Node* node, Value* value) {
  if (value->producer) throw std::logic_error("value " + value->name + " already has a producer");
  value->producer = node;
  node->outputs.push_back(value);
}

void Graph::remove_node(Node* node) {
  for (Value* in : node->inputs) {
    if (!in) continue;
    auto it = std::find(in->users.begin(), in->users.end(), node);
    if (it != in->users.end()) in->users.erase(it);
  }
  for (Value* out : node->outputs) out->producer = nullptr;
  nodes_.erase(node->position_);
}

void Graph::set_input(Node* node, size_t index, Value* value) {
  Value* old = node->inputs.at(index);
  if (old) {
    auto it = std::find(old->users.begin(), old->users.end(), node);
    if (it != old->users.end()) old->users.erase(it);
  }
  node->inputs[index] = value;
  if (value) value->users.push_back(node);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  std::vector<Node*> users = from->users;
  for (Node* user : users) {
    for (size_t i = 0; i < user->inputs.size(); ++i) {
      if (user->inputs[i] == from) set_input(user, i, to);
    }
  }
  std::replace(outputs.begin(), outputs.end(), from, to);
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& node : nodes_) out.push_back(node.get());
  return out;
}

Value* Graph::value_by_id(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(values_.size())) return nullptr;
  return values_[id].get();
}

}  // namespace ferry
