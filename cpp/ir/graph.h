#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "ir/attr.h"
#include "ir/dims.h"
#include "ir/dtype.h"
#include "ir/tensor_data.h"

namespace ferry {

struct Node;
struct Trace;
class Graph;

// A function a control-flow node runs (a while loop's condition or body), as traced and,
// once the layout around the node is known, converted on its own. Its inputs bind the
// node's inputs in order.
struct Body {
  std::string role;                    // "cond", "body"; "then", "else"
  std::shared_ptr<const Trace> trace;  // PyTorch level, as the tracer recorded it
  std::shared_ptr<Graph> graph;        // TF level, in the physical order of the node's values
};

// Where a tensor's dimensions sit relative to PyTorch's. Values carry their PyTorch (logical)
// shape; `kChannelsLast` means the physical tensor is logical.permute(0, 2, ..., r-1, 1).
// `kFixed` values have a physical shape chosen by a rule (conv kernels in HWIO): layout never
// touches them.
enum class Layout : uint8_t { kPyTorch, kChannelsLast, kFixed };

std::string_view layout_name(Layout layout);
// The permutation physical = logical.permute(perm) for a layout at a rank.
std::vector<int64_t> layout_perm(Layout layout, size_t rank);

struct Value {
  int64_t id = 0;
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // logical (PyTorch) shape, or the physical one for kFixed
  SymDims sym;  // which sizes are free (ir/dims.h); empty when all are fixed
  Layout layout = Layout::kPyTorch;
  Node* producer = nullptr;
  std::vector<Node*> users;  // one entry per use
  std::shared_ptr<const TensorData> constant;
  int64_t origin = -1;  // the traced value this reproduces, -1 if none

  bool is_constant() const { return constant != nullptr; }
  size_t rank() const { return shape.size(); }
  Shape physical_shape() const;
  SymDims physical_sym() const;  // `sym` in the physical order, like physical_shape()
  // The physical shape as a reshape target: -1 at the one free size. A target with two free
  // sizes needs a shape computed at run time, which Ferry does not write yet: throws.
  Shape reshape_target() const;
};

// The node's inputs its bodies bind, in order: all of them, but an `if` node's predicate.
std::vector<Value*> body_inputs(const Node& node);

// Same physical sizes, free ones included (equal hints alone do not make equal sizes).
bool same_sizes(const Value& a, const Value& b);

struct Node {
  int64_t id = 0;
  std::string op;
  std::vector<Value*> inputs;  // nullptr marks an absent optional input
  // For imported (PyTorch-level) nodes: the parameter each input was bound to, e.g.
  // "weight", or "tensors" repeated for the elements of torch.cat's list.
  std::vector<std::string> input_args;
  std::vector<Value*> outputs;
  Attrs attrs;
  std::string scope;                  // PyTorch module path, "" for the root
  int64_t origin = -1;                // trace node id
  std::vector<std::string> sym_args;  // imported arguments holding a free size
  std::vector<Body> bodies;           // control flow: the functions the node runs

  Value* input(const std::string& arg) const;  // first input bound to `arg`, or nullptr
  std::vector<Value*> inputs_of(const std::string& arg) const;

 private:
  friend class Graph;
  std::list<std::unique_ptr<Node>>::iterator position_;
};

// A dataflow graph whose node list is always in topological order. Insertion and removal are
// O(1) so passes stay linear in graph size.
class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Value* add_value(DType dtype, Shape shape, std::string name = "");
  Value* add_constant(std::shared_ptr<const TensorData> data, std::string name = "");

  // Appends, or inserts before `before` when given. Outputs must be created by the caller.
  Node* add_node(std::string op, std::vector<Value*> inputs, Attrs attrs = {},
                 Node* before = nullptr);
  void add_output_to(Node* node, Value* value);
  void remove_node(Node* node);
  void set_input(Node* node, size_t index, Value* value);
  void replace_all_uses(Value* from, Value* to);

  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  std::vector<std::string> input_names;
  std::vector<std::string> output_names;
  // The free sizes' symbols and expressions; null for a model whose sizes are all fixed.
  // Rules add the expressions of the sizes they make (a padded height, say).
  std::shared_ptr<SymbolTable> symbols;

  // Nodes in topological order.
  std::vector<Node*> nodes() const;
  size_t num_nodes() const { return nodes_.size(); }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }
  Value* value_by_id(int64_t id) const;

 private:
  std::list<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  int64_t next_node_id_ = 0;
};

}  // namespace ferry
