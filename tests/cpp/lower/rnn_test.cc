#include <gtest/gtest.h>

#include "lower/lower.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// Element i holds i + offset, so a moved element tells where it came from.
std::shared_ptr<TensorData> iota(Shape shape, float offset = 0) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t->size(); ++i)
    t->mutable_as<float>()[i] = static_cast<float>(i) + offset;
  return t;
}

struct RnnConfig {
  std::string op = "torch.nn.modules.rnn.GRU";
  int64_t gates = 3, input = 2, hidden = 3, layers = 1, batch = 2, steps = 5;
  bool bidirectional = false, batch_first = true, bias = true, with_hx = false;
  int64_t proj_size = 0;
  bool lstm() const { return gates == 4; }
  int64_t dirs() const { return bidirectional ? 2 : 1; }
};

// One module call as the bridge hands it over: forward arguments, then the parameters
// (named as in named_parameters()) and the module's attributes.
LowerResult run(const RnnConfig& c) {
  Graph g;
  std::vector<Value*> args;
  std::vector<std::string> names;
  Shape x_shape =
      c.batch_first ? Shape{c.batch, c.steps, c.input} : Shape{c.steps, c.batch, c.input};
  Value* x = g.add_value(DType::kFloat32, x_shape, "x");
  g.inputs.push_back(x);
  g.input_names.push_back("x");
  args.push_back(x);
  names.push_back("input");
  if (c.with_hx) {
    for (int s = 0; s < (c.lstm() ? 2 : 1); ++s) {
      Value* h = g.add_value(DType::kFloat32, {c.layers * c.dirs(), c.batch, c.hidden}, "h");
      g.inputs.push_back(h);
      g.input_names.push_back("h" + std::to_string(s));
      args.push_back(h);
      names.push_back("hx");
    }
  }
  float offset = 0;
  for (int64_t l = 0; l < c.layers; ++l) {
    for (int64_t d = 0; d < c.dirs(); ++d) {
      std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      int64_t in = l == 0 ? c.input : c.hidden * c.dirs();
      std::vector<std::pair<std::string, Shape>> params = {
          {"weight_ih" + sfx, {c.gates * c.hidden, in}},
          {"weight_hh" + sfx, {c.gates * c.hidden, c.hidden}}};
      if (c.bias) {
        params.push_back({"bias_ih" + sfx, {c.gates * c.hidden}});
        params.push_back({"bias_hh" + sfx, {c.gates * c.hidden}});
      }
      for (auto& [name, shape] : params) {
        auto data = iota(shape, offset);
        offset += 1000;
        args.push_back(g.add_constant(data, name));
        names.push_back(name);
      }
    }
  }
  Attrs attrs;
  attrs.set("hidden_size", c.hidden);
  attrs.set("num_layers", c.layers);
  attrs.set("bias", c.bias);
  attrs.set("batch_first", c.batch_first);
  attrs.set("bidirectional", c.bidirectional);
  attrs.set("proj_size", c.proj_size);
  Node* n = g.add_node(c.op, args, std::move(attrs));
  n->input_args = names;
  Shape y_shape = c.batch_first ? Shape{c.batch, c.steps, c.dirs() * c.hidden}
                                : Shape{c.steps, c.batch, c.dirs() * c.hidden};
  std::vector<Shape> outs = {y_shape, {c.layers * c.dirs(), c.batch, c.hidden}};
  if (c.lstm()) outs.push_back(outs[1]);
  for (size_t i = 0; i < outs.size(); ++i) {
    Value* y = g.add_value(DType::kFloat32, outs[i], "y" + std::to_string(i));
    g.add_output_to(n, y);
    g.outputs.push_back(y);
    g.output_names.push_back(y->name);
  }
  Registry registry;
  register_all(registry);
  return lower(g, registry);
}

std::vector<const Node*> nodes(const LowerResult& r, const std::string& op) {
  std::vector<const Node*> out;
  for (const Node* n : r.graph->nodes()) {
    if (n->op == op) out.push_back(n);
  }
  return out;
}

float at(const Value* v, int64_t i) { return v->constant->as<float>()[i]; }

TEST(RnnLowering, GruWeightsInKerasGateOrder) {
  RnnConfig c;
  auto r = run(c);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  auto grus = nodes(r, "gru");
  ASSERT_EQ(grus.size(), 1u);
  const Node* gru = grus[0];
  ASSERT_EQ(gru->inputs.size(), 5u);  // x, h0, kernel, recurrent_kernel, bias
  EXPECT_EQ(gru->inputs[1], nullptr);
  EXPECT_EQ(gru->attrs.get_int("units"), 3);
  EXPECT_FALSE(gru->attrs.get_bool("bidirectional"));
  const Value* kernel = gru->inputs[2];
  EXPECT_EQ(kernel->layout, Layout::kFixed);
  ASSERT_EQ(kernel->shape, (Shape{2, 9}));
  // weight_ih[row, i] = row * 2 + i, rows r (0-2), z (3-5), n (6-8). Keras' columns are
  // z, r, h: kernel[i, j] for j < 3 comes from z's row 3 + j.
  EXPECT_EQ(at(kernel, 0 * 9 + 0), 3 * 2 + 0);  // z0 <- weight_ih[3, 0]
  EXPECT_EQ(at(kernel, 1 * 9 + 4), 1 * 2 + 1);  // r1 <- weight_ih[1, 1]
  EXPECT_EQ(at(kernel, 1 * 9 + 8), 8 * 2 + 1);  // h2 <- weight_ih[8, 1]
  const Value* recurrent = gru->inputs[3];
  ASSERT_EQ(recurrent->shape, (Shape{3, 9}));
  EXPECT_EQ(at(recurrent, 2 * 9 + 3), 1000 + 0 * 3 + 2);  // r0 <- weight_hh[0, 2]
  const Value* bias = gru->inputs[4];
  ASSERT_EQ(bias->shape, (Shape{2, 9}));
  EXPECT_EQ(at(bias, 0), 2000 + 3);      // input bias, z0 <- bias_ih[3]
  EXPECT_EQ(at(bias, 9 + 7), 3000 + 7);  // recurrent bias, h1 <- bias_hh[7]
  EXPECT_EQ(gru->outputs.size(), 2u);
  EXPECT_EQ(gru->outputs[0]->shape, (Shape{2, 5, 3}));
  EXPECT_EQ(gru->outputs[1]->shape, (Shape{2, 3}));
}

TEST(RnnLowering, LstmBiasesAreSummed) {
  RnnConfig c;
  c.op = "torch.nn.modules.rnn.LSTM";
  c.gates = 4;
  auto r = run(c);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  auto lstms = nodes(r, "lstm");
  ASSERT_EQ(lstms.size(), 1u);
  const Node* lstm = lstms[0];
  ASSERT_EQ(lstm->inputs.size(), 6u);  // x, h0, c0, kernel, recurrent_kernel, bias
  const Value* kernel = lstm->inputs[3];
  ASSERT_EQ(kernel->shape, (Shape{2, 12}));
  EXPECT_EQ(at(kernel, 1 * 12 + 7), 7 * 2 + 1);  // same gate order: a plain transpose
  const Value* bias = lstm->inputs[5];
  ASSERT_EQ(bias->shape, (Shape{12}));
  EXPECT_EQ(at(bias, 5), (2000 + 5) + (3000 + 5));
  EXPECT_EQ(lstm->outputs.size(), 3u);  // y, h, c
}

TEST(RnnLowering, SequenceFirstIsTransposedBothWays) {
  RnnConfig c;
  c.batch_first = false;
  auto r = run(c);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  auto transposes = nodes(r, "transpose");
  ASSERT_EQ(transposes.size(), 2u);
  EXPECT_EQ(transposes[0]->attrs.get_ints("perm"), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(nodes(r, "gru")[0]->inputs[0], transposes[0]->outputs[0]);
  EXPECT_EQ(transposes[1]->outputs[0]->shape, (Shape{5, 2, 3}));
}

TEST(RnnLowering, StackedBidirectionalWithInitialState) {
  RnnConfig c;
  c.op = "torch.nn.modules.rnn.LSTM";
  c.gates = 4;
  c.layers = 2;
  c.bidirectional = true;
  c.with_hx = true;
  auto r = run(c);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  auto lstms = nodes(r, "lstm");
  ASSERT_EQ(lstms.size(), 2u);
  for (const Node* n : lstms) {
    ASSERT_EQ(n->inputs.size(), 11u);
    EXPECT_TRUE(n->attrs.get_bool("bidirectional"));
    EXPECT_EQ(n->outputs.size(), 5u);  // y, h, c, h_bw, c_bw
    EXPECT_EQ(n->outputs[0]->shape, (Shape{2, 5, 6}));
    for (size_t i : {1, 2, 6, 7}) {
      ASSERT_NE(n->inputs[i], nullptr);
      EXPECT_EQ(n->inputs[i]->shape, (Shape{2, 3}));
    }
  }
  EXPECT_EQ(lstms[1]->inputs[0], lstms[0]->outputs[0]);
  EXPECT_EQ(lstms[1]->inputs[8]->shape, (Shape{6, 12}));  // layer 1 reads both directions
  // Layer 1, backward: h0 is entry 3 of the stacked [4, B, H] state.
  const Node* slice = lstms[1]->inputs[6]->producer->inputs[0]->producer;
  ASSERT_EQ(slice->op, "slice");
  EXPECT_EQ(slice->attrs.get_ints("begin"), (std::vector<int64_t>{3, 0, 0}));
  // h_n and c_n each stack four [1, B, H] states.
  auto concats = nodes(r, "concat");
  ASSERT_EQ(concats.size(), 2u);
  EXPECT_EQ(concats[0]->inputs.size(), 4u);
  EXPECT_EQ(r.graph->outputs[1]->shape, (Shape{4, 2, 3}));
}

TEST(RnnLowering, NoBias) {
  RnnConfig c;
  c.bias = false;
  auto r = run(c);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(nodes(r, "gru")[0]->inputs[4], nullptr);
}

TEST(RnnLowering, Errors) {
  RnnConfig proj;
  proj.op = "torch.nn.modules.rnn.LSTM";
  proj.gates = 4;
  proj.proj_size = 2;
  auto r = run(proj);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("proj_size"), std::string::npos) << r.errors[0].message;

  // Attributes that do not match the weights (hidden_size 4 for 3-row gate blocks).
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {1, 2, 2}, "x");
  g.inputs.push_back(x);
  Node* n = g.add_node("torch.nn.modules.rnn.GRU",
                       {x, g.add_constant(iota({9, 2}), "w"), g.add_constant(iota({9, 3}), "u")});
  n->input_args = {"input", "weight_ih_l0", "weight_hh_l0"};
  n->attrs.set("hidden_size", int64_t{4});
  n->attrs.set("num_layers", int64_t{1});
  n->attrs.set("bias", false);
  n->attrs.set("batch_first", true);
  n->attrs.set("bidirectional", false);
  g.add_output_to(n, g.add_value(DType::kFloat32, {1, 2, 4}, "y"));
  g.add_output_to(n, g.add_value(DType::kFloat32, {1, 1, 4}, "h"));
  Registry registry;
  register_all(registry);
  r = lower(g, registry);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("hidden_size 4"), std::string::npos) << r.errors[0].message;
}

}  // namespace
}  // namespace ferry
