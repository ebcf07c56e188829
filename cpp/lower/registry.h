#pragma once

#include <functional>
#include <map>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace ferry {

// A rule cannot express this call (an unsupported argument combination, say). The message
// says what, in the user's terms; the driver adds where.
class LowerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a rule sees while it lowers one PyTorch-level node into TF-level ops (docs/tf_ops.md).
// Rules work in PyTorch order: values keep their PyTorch shapes and axis attributes use
// PyTorch numbering. The exception is the channels-last ops (conv, depthwise_conv, max_pool,
// avg_pool): their attributes and kernels are written for the channels-last tensor, and the
// layout stage guarantees that is what they receive.
class LowerContext {
 public:
  LowerContext(Graph& out, const Node& node, std::unordered_map<const Value*, Value*>& mapping);

  const Node& node() const { return node_; }
  const Attrs& attrs() const { return node_.attrs; }
  Graph& graph() { return out_; }

  // The TF-level value for a tensor argument; throws LowerError when it is missing.
  Value* in(const std::string& arg) const;
  // nullptr when the argument is absent or None.
  Value* in_opt(const std::string& arg) const;
  std::vector<Value*> ins(const std::string& arg) const;
  bool has_tensor(const std::string& arg) const { return node_.input(arg) != nullptr; }
  // The TF-level value for one of the node's own inputs (by pointer, for rules that take
  // every tensor argument in order).
  Value* in_opt_value(const Value* torch_value) const;

  // The recorded PyTorch output i (its dtype and shape are the truth for the result).
  const Value& torch_output(size_t i = 0) const;
  size_t num_outputs() const { return node_.outputs.size(); }

  // Emits one TF-level node with one output of the given type.
  Value* emit(const std::string& op, std::vector<Value*> inputs, Attrs attrs, DType dtype,
              Shape shape);
  // The same, its output given these free sizes (ir/dims.h).
  Value* emit(const std::string& op, std::vector<Value*> inputs, Attrs attrs, DType dtype,
              Shape shape, SymDims sym);
  // Free sizes: expression `e` plus `c` (a fixed size, e < 0, stays fixed).
  int32_t sym_plus(int32_t e, int64_t c);
  // Free sizes: expression `e` as a run-time int32 value of shape [1], read from the graph
  // input that holds each symbol and computed by int32 arithmetic; made once per conversion
  // when the driver shares a cache (set_size_values).
  Value* size_value(int32_t e);
  void set_size_values(std::unordered_map<int32_t, Value*>* cache) { sizes_ = cache; }
  // Emits a node whose single output has the type of PyTorch output `i`, and binds it.
  Value* emit_output(const std::string& op, std::vector<Value*> inputs, Attrs attrs = {},
                     size_t i = 0);
  // A constant in PyTorch order (layout may permute it) or with a fixed physical layout.
  Value* constant(std::shared_ptr<const TensorData> data, Layout layout = Layout::kPyTorch,
                  const std::string& name = "");
  Value* scalar(double value, DType dtype);
  // Binds PyTorch output i to a TF-level value.
  void set_output(size_t i, Value* value);

  // The PyTorch-level graph the node belongs to, so rules can tell which outputs are read.
  void set_source(const Graph* source) { source_ = source; }
  // Whether PyTorch output i is read by another call or is a model output (true when the
  // graph is unknown). A rule may leave an unread output without a faithful value.
  bool output_needed(size_t i) const;

 private:
  const Graph* source_ = nullptr;
  std::unordered_map<int32_t, Value*>* sizes_ = nullptr;
  Graph& out_;
  const Node& node_;
  std::unordered_map<const Value*, Value*>& mapping_;
};

using LowerFn = std::function<void(LowerContext&)>;

struct Rule {
  std::vector<std::string> ops;  // PyTorch-level op names it handles (aliases)
  LowerFn lower;
  std::string mapping;  // what it becomes, for `ferry ops`, e.g. "conv (+ pad)"
  // Whether it lowers calls with free sizes (ir/dims.h): it then gives every value it makes
  // its `sym` and builds sizes that follow a symbol at run time. Other rules refuse them.
  bool free_sizes = false;
  // Where Registry::add was called: `ferry.locate_converter` shows users the rule's source.
  std::source_location where{};
};

class Registry {
 public:
  // `where` defaults to the caller's line, so every registration records its own site.
  void add(Rule rule, std::source_location where = std::source_location::current());
  const Rule* find(const std::string& op) const;
  std::vector<std::string> ops() const;  // sorted

 private:
  std::vector<std::unique_ptr<Rule>> rules_;
  std::map<std::string, const Rule*> by_op_;
};

// `file` (a path as the compiler saw it) relative to the root of Ferry's source tree, e.g.
// "cpp/lower/conv.cc"; unchanged when it lies outside the tree.
std::string source_relative_path(const std::string& file);

}  // namespace ferry
