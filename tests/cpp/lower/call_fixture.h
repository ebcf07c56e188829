#pragma once

// Test scaffolding shared by the lowering tests: one PyTorch-level call in a graph of its own,
// lowered with every registered rule, and matchers over the result.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry::lower_test {

inline std::shared_ptr<TensorData> iota(Shape shape) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t->size(); ++i) t->mutable_as<float>()[i] = static_cast<float>(i);
  return t;
}

// One PyTorch-level call in a graph of its own.
struct Call {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  std::vector<Value*> args;
  std::vector<std::string> names;

  Call& input(const std::string& arg, Shape shape, DType dtype = DType::kFloat32) {
    Value* v = g->add_value(dtype, std::move(shape), arg);
    g->inputs.push_back(v);
    g->input_names.push_back(arg);
    args.push_back(v);
    names.push_back(arg);
    return *this;
  }
  Call& constant(const std::string& arg, std::shared_ptr<TensorData> data) {
    args.push_back(g->add_constant(std::move(data), arg));
    names.push_back(arg);
    return *this;
  }
  LowerResult run(const std::string& op, Attrs attrs, Shape out, size_t num_outputs = 1) {
    Node* n = g->add_node(op, args, std::move(attrs));
    n->input_args = names;
    for (size_t i = 0; i < num_outputs; ++i) {
      Value* y = g->add_value(DType::kFloat32, out, "y" + std::to_string(i));
      g->add_output_to(n, y);
      g->outputs.push_back(y);
      g->output_names.push_back(y->name);
    }
    Registry registry;
    register_all(registry);
    return lower(*g, registry);
  }
};

inline std::vector<std::string> ops(const LowerResult& r) {
  std::vector<std::string> out;
  for (const Node* n : r.graph->nodes()) out.push_back(n->op);
  return out;
}

inline const Node* find(const LowerResult& r, const std::string& op) {
  for (const Node* n : r.graph->nodes()) {
    if (n->op == op) return n;
  }
  return nullptr;
}

inline ::testing::AssertionResult has_error(const LowerResult& r, const std::string& text) {
  if (r.errors.size() == 1 && r.errors[0].message.find(text) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure() << r.errors.size() << " errors";
  for (const auto& e : r.errors) failure << "; " << e.message;
  return failure;
}

}  // namespace ferry::lower_test
