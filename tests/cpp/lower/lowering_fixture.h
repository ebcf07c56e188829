#pragma once

// A fixture for rule tests that build a PyTorch-level graph of single calls, lower it, and
// inspect the TF-level result (elementwise, reduce, shape tests).

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ir/verify.h"
#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry::lower_test {

using Ints = std::vector<int64_t>;
using Ops = std::vector<std::string>;

inline Attrs attrs(std::vector<std::pair<std::string, Attr>> items) {
  Attrs a;
  for (auto& [k, v] : items) a.set(k, std::move(v));
  return a;
}

struct Out {
  DType dtype;
  Shape shape;
};

class LoweringTest : public ::testing::Test {
 protected:
  LoweringTest() { register_all(registry_); }

  Value* input(DType dtype, Shape shape) {
    Value* v =
        torch_.add_value(dtype, std::move(shape), "x" + std::to_string(torch_.inputs.size()));
    torch_.inputs.push_back(v);
    torch_.input_names.push_back(v->name);
    return v;
  }

  // One call with tensor arguments (parameter name, value) and the given outputs.
  Node* call(const std::string& op, std::vector<std::pair<std::string, Value*>> args, Attrs a,
             std::vector<Out> outs) {
    std::vector<Value*> inputs;
    std::vector<std::string> names;
    for (auto& [name, value] : args) {
      names.push_back(name);
      inputs.push_back(value);
    }
    Node* n = torch_.add_node(op, inputs, std::move(a));
    n->input_args = names;
    for (Out& o : outs) {
      Value* out = torch_.add_value(o.dtype, std::move(o.shape), "y");
      torch_.add_output_to(n, out);
      torch_.outputs.push_back(out);
      torch_.output_names.push_back("y" + std::to_string(torch_.outputs.size()));
    }
    return n;
  }

  // One output; `no_output` models a call that returned its own input.
  Node* call(const std::string& op, std::vector<std::pair<std::string, Value*>> args, Attrs a,
             DType dtype, Shape shape, bool no_output = false) {
    std::vector<Out> outs;
    if (!no_output) outs.push_back({dtype, std::move(shape)});
    return call(op, std::move(args), std::move(a), std::move(outs));
  }

  // Lowers and returns the op names in order; failures land in errors_.
  std::vector<std::string> lower_ops() {
    result_ = lower(torch_, registry_);
    errors_.clear();
    for (const auto& e : result_.errors) errors_.push_back(e.message);
    std::vector<std::string> ops;
    for (const Node* n : result_.graph->nodes()) ops.push_back(n->op);
    if (errors_.empty()) verify(*result_.graph, "lower");
    return ops;
  }

  void expect_error(const std::string& text) {
    ASSERT_EQ(errors_.size(), 1u);
    EXPECT_NE(errors_[0].find(text), std::string::npos) << errors_[0];
  }

  const Node* node(size_t i) const { return result_.graph->nodes().at(i); }
  const Value* output() const { return result_.graph->outputs.at(0); }

  Graph torch_;
  Registry registry_;
  LowerResult result_;
  std::vector<std::string> errors_;
};

}  // namespace ferry::lower_test
