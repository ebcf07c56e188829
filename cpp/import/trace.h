#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/attr.h"
#include "ir/dims.h"
#include "ir/dtype.h"
#include "ir/tensor_data.h"

namespace ferry {

// The recorded call tree, as handed over from Python's tracer. Only what conversion needs:
// recorded activations stay in Python (validation compares against them there).
enum class TraceKind : uint8_t { kModule, kFunction, kAten };

struct Trace;

struct TraceArg {
  std::string name;
  std::vector<int64_t> tensors;  // value ids when the argument is a tensor or list of tensors
  bool is_tensor_list = false;
  Attr value;  // the argument when it holds no tensor
};

struct TraceValue {
  int64_t id = 0;
  DType dtype = DType::kFloat32;
  Shape shape;
  SymDims sym;  // free sizes, see ir/dims.h
  bool is_input = false;
  std::string name;
  std::shared_ptr<const TensorData> constant;  // set for parameters, buffers, literals
  int64_t producer = -1;                       // innermost trace node that produced it
};

struct TraceNode {
  int64_t id = 0;
  TraceKind kind = TraceKind::kFunction;
  std::string op;
  std::string scope;
  int64_t parent = -1;
  std::vector<int64_t> children;
  std::vector<TraceArg> args;
  std::vector<int64_t> outputs;  // tensor outputs, flattened in order
  // Set by Python when a user converter matches this call: the handle into its registry and
  // the converter's channel ordering strategy ("force_tensorflow_order", ...).
  int64_t user_converter = -1;
  std::string user_strategy;
  // Arguments given a free size (view's `size` holding the batch, say): a rule must build
  // them at run time, so only rules that can are given such a call.
  std::vector<std::string> sym_args;
  // The functions a control-flow call runs, each traced on its own: a while loop's "cond"
  // and "body". Their inputs are the call's tensor arguments, in order.
  std::vector<std::pair<std::string, std::shared_ptr<const Trace>>> bodies;
};

struct Trace {
  std::vector<TraceValue> values;  // index == id
  std::vector<TraceNode> nodes;    // index == id, pre-order
  std::vector<int64_t> roots;
  std::vector<int64_t> inputs;
  std::vector<int64_t> outputs;
  std::vector<std::string> input_names;
  std::vector<std::string> output_names;
  std::shared_ptr<SymbolTable> symbols;  // null when every size is fixed
};

}  // namespace ferry
