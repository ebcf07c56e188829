#include "lower/registry.h"

#include <algorithm>

namespace ferry {

LowerContext::LowerContext(Graph& out, const Node& node,
                           std::unordered_map<const Value*, Value*>& mapping)
    : out_(out), node_(node), mapping_(mapping) {}

Value* LowerContext::in_opt(const std::string& arg) const {
  const Value* v = node_.input(arg);
  if (!v) return nullptr;
  auto it = mapping_.find(v);
  if (it == mapping_.end()) throw LowerError("argument '" + arg + "' has no lowered value");
  return it->second;
}

Value* LowerContext::in_opt_value(const Value* torch_value) const {
  if (!torch_value) return nullptr;
  auto it = mapping_.find(torch_value);
  if (it == mapping_.end()) throw LowerError("an input has no lowered value");
  return it->second;
}

Value* LowerContext::in(const std::string& arg) const {
  Value* v = in_opt(arg);
  if (!v) throw LowerError("expected a tensor for argument '" + arg + "'");
  return v;
}

std::vector<Value*> LowerContext::ins(const std::string& arg) const {
  std::vector<Value*> out;
  for (const Value* v : node_.inputs_of(arg)) out.push_back(mapping_.at(v));
  return out;
}

const Value& LowerContext::torch_output(size_t i) const {
  if (i >= node_.outputs.size())
    throw LowerError("the call has no tensor output " + std::to_string(i));
  return *node_.outputs[i];
}

Value* LowerContext::emit(const std::string& op, std::vector<Value*> inputs, Attrs attrs,
                          DType dtype, Shape shape) {
  Node* n = out_.add_node(op, std::move(inputs), std::move(attrs));
  n->scope = node_.scope;
  n->origin = node_.origin;
  Value* v = out_.add_value(dtype, std::move(shape));
  out_.add_output_to(n, v);
  return v;
}

Value* LowerContext::emit(const std::string& op, std::vector<Value*> inputs, Attrs attrs,
                          DType dtype, Shape shape, SymDims sym) {
  Value* v = emit(op, std::move(inputs), std::move(attrs), dtype, std::move(shape));
  if (has_free_dims(sym)) v->sym = std::move(sym);
  return v;
}

int32_t LowerContext::sym_plus(int32_t e, int64_t c) {
  if (e < 0 || c == 0) return e;
  return out_.symbols->add({DimOp::kAdd, -1, {{e, 0}, {-1, c}}});
}

Value* LowerContext::size_value(int32_t e) {
  if (!out_.symbols) throw LowerError("internal: a run-time size in a model without free sizes");
  if (sizes_) {
    if (auto it = sizes_->find(e); it != sizes_->end()) return it->second;
  }
  const DimExpr& expr = out_.symbols->expr(e);
  Value* v = nullptr;
  if (expr.op == DimOp::kSymbol) {
    const Symbol& s = out_.symbols->symbols().at(static_cast<size_t>(expr.symbol));
    Attrs axes;
    axes.set("axes", std::vector<int64_t>{s.dim});
    v = emit("dims", {out_.inputs.at(static_cast<size_t>(s.input))}, std::move(axes), DType::kInt32,
             {1});
  } else {
    const char* op = expr.op == DimOp::kAdd        ? "add"
                     : expr.op == DimOp::kMul      ? "mul"
                     : expr.op == DimOp::kFloorDiv ? "floor_div"
                     : expr.op == DimOp::kMod      ? "floor_mod"
                     : expr.op == DimOp::kMax      ? "maximum"
                                                   : "minimum";
    for (const DimOperand& a : expr.args) {
      Value* operand = nullptr;
      if (a.expr >= 0) {
        operand = size_value(a.expr);
      } else {
        auto data = std::make_shared<TensorData>(DType::kInt32, Shape{1});
        data->mutable_as<int32_t>()[0] = static_cast<int32_t>(a.constant);
        operand = constant(data);
      }
      v = v ? emit(op, {v, operand}, {}, DType::kInt32, {1}) : operand;
    }
  }
  if (sizes_) (*sizes_)[e] = v;
  return v;
}

Value* LowerContext::emit_output(const std::string& op, std::vector<Value*> inputs, Attrs attrs,
                                 size_t i) {
  const Value& t = torch_output(i);
  Value* v = emit(op, std::move(inputs), std::move(attrs), t.dtype, t.shape);
  v->sym = t.sym;
  set_output(i, v);
  return v;
}

Value* LowerContext::constant(std::shared_ptr<const TensorData> data, Layout layout,
                              const std::string& name) {
  Value* v = out_.add_constant(std::move(data), name);
  v->layout = layout;
  return v;
}

Value* LowerContext::scalar(double value, DType dtype) {
  return constant(scalar_tensor(dtype, value));
}

void LowerContext::set_output(size_t i, Value* value) {
  const Value& t = torch_output(i);
  if (value->shape != t.shape && value->layout != Layout::kFixed) {
    throw LowerError("internal: lowered output " + std::to_string(i) + " has the wrong shape");
  }
  // Free sizes: a value that lost them would be read at its traced size downstream, silently
  // wrong at others; a rule that takes free sizes must say which of its sizes are.
  const bool lost = has_free_dims(t.sym) && !has_free_dims(value->sym);
  const bool extra = !has_free_dims(t.sym) && has_free_dims(value->sym);
  if (value->layout != Layout::kFixed && (lost || extra)) {
    throw LowerError("internal: lowered output " + std::to_string(i) +
                     (lost ? " lost its free sizes" : " has free sizes PyTorch's has not"));
  }
  if (value->origin < 0) value->origin = t.origin;
  mapping_[&t] = value;
}

bool LowerContext::output_needed(size_t i) const {
  const Value& t = torch_output(i);
  if (!t.users.empty() || !source_) return true;
  return std::find(source_->outputs.begin(), source_->outputs.end(), &t) != source_->outputs.end();
}

void Registry::add(Rule rule, std::source_location where) {
  auto owned = std::make_unique<Rule>(std::move(rule));
  owned->where = where;
  for (const auto& op : owned->ops) by_op_[op] = owned.get();
  rules_.push_back(std::move(owned));
}

const Rule* Registry::find(const std::string& op) const {
  auto it = by_op_.find(op);
  return it == by_op_.end() ? nullptr : it->second;
}

std::vector<std::string> Registry::ops() const {
  std::vector<std::string> out;
  for (const auto& [op, rule] : by_op_) out.push_back(op);
  return out;
}

std::string source_relative_path(const std::string& file) {
  // This file's own path locates the root: it is compiled from <root>/cpp/lower/registry.cc.
  static const std::string kRoot = [] {
    const std::string self = std::source_location::current().file_name();
    const std::string tail = "cpp/lower/registry.cc";
    if (self.size() < tail.size() ||
        self.compare(self.size() - tail.size(), tail.size(), tail) != 0)
      return std::string();
    return self.substr(0, self.size() - tail.size());
  }();
  if (!kRoot.empty() && file.compare(0, kRoot.size(), kRoot) == 0) return file.substr(kRoot.size());
  return file;
}

}  // namespace ferry
