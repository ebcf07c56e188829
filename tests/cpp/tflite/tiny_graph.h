#pragma once

// A small TF-level graph exercising the writer: conv (+ batch norm + relu to fold and fuse),
// two identical constants (stored once), an unfused add, a reshape and a dense layer.
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace ferry::tflite {

inline Value* tiny_op(Graph& g, const std::string& op, std::vector<Value*> in, Shape shape,
                      Attrs attrs = {}) {
  Node* n = g.add_node(op, std::move(in), std::move(attrs));
  n->scope = "block." + op;
  Value* v = g.add_value(DType::kFloat32, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

inline Value* tiny_const(Graph& g, Shape shape, float start) {
  auto data = std::make_shared<TensorData>(DType::kFloat32, shape);
  float* p = data->mutable_as<float>();
  for (int64_t i = 0; i < data->size(); ++i) p[i] = start + 0.25f * static_cast<float>(i);
  Value* v = g.add_constant(data);
  v->layout = Layout::kFixed;
  return v;
}

inline void build_tiny_graph(Graph& g, const std::string& op_after = "add") {
  Value* x = g.add_value(DType::kFloat32, {1, 4, 4, 2}, "x");
  x->layout = Layout::kFixed;
  g.inputs.push_back(x);
  g.input_names.push_back("image");
  Attrs conv;
  conv.set("strides", std::vector<int64_t>{1, 1});
  conv.set("dilations", std::vector<int64_t>{1, 1});
  conv.set("groups", int64_t{1});
  conv.set("padding", std::string("SAME"));
  Value* c =
      tiny_op(g, "conv", {x, tiny_const(g, {3, 3, 2, 3}, -1.0f), nullptr}, {1, 4, 4, 3}, conv);
  Attrs bn;
  bn.set("axis", int64_t{3});
  bn.set("epsilon", 1e-5);
  Value* b = tiny_op(g, "batch_norm",
                     {c, tiny_const(g, {3}, 1.0f), tiny_const(g, {3}, 0.0f),
                      tiny_const(g, {3}, 0.5f), tiny_const(g, {3}, 1.0f)},
                     {1, 4, 4, 3}, bn);
  Value* r = tiny_op(g, "relu", {b}, {1, 4, 4, 3});
  // The same bytes twice: one buffer.
  Value* s = tiny_op(g, op_after, {r, tiny_const(g, {3}, 2.0f)}, {1, 4, 4, 3});
  Value* t = tiny_op(g, "add", {s, tiny_const(g, {3}, 2.0f)}, {1, 4, 4, 3});
  Attrs shape;
  shape.set("shape", std::vector<int64_t>{1, 48});
  Value* f = tiny_op(g, "reshape", {t}, {1, 48}, shape);
  Value* d =
      tiny_op(g, "dense", {f, tiny_const(g, {48, 5}, 0.0f), tiny_const(g, {5}, 0.0f)}, {1, 5});
  g.outputs.push_back(d);
  g.output_names.push_back("logits");
}

// An lstm/gru node over x [B, T, F] with `units` H, its outputs made graph outputs in order.
inline std::vector<Value*> recurrent(Graph& g, const std::string& op, std::vector<Value*> inputs,
                                     int64_t units, bool bidirectional) {
  Attrs attrs;
  attrs.set("units", units);
  attrs.set("bidirectional", bidirectional);
  const Shape xs = inputs[0]->shape;
  Node* n = g.add_node(op, std::move(inputs), std::move(attrs));
  n->scope = "encoder.rnn";
  const int64_t dirs = bidirectional ? 2 : 1, states = op == "lstm" ? 2 : 1;
  std::vector<Value*> outs{g.add_value(DType::kFloat32, {xs[0], xs[1], dirs * units})};
  for (int64_t i = 0; i < dirs * states; ++i)
    outs.push_back(g.add_value(DType::kFloat32, {xs[0], units}));
  for (Value* v : outs) {
    g.add_output_to(n, v);
    g.outputs.push_back(v);
  }
  return outs;
}

}  // namespace ferry::tflite
