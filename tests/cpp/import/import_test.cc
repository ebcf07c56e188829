#include "import/import.h"

#include <gtest/gtest.h>

#include <set>

namespace ferry {
namespace {

// module(conv2d(x) -> hardsigmoid -> unused relu), built like the Python tracer does.
struct Fixture {
  Trace trace;
  int64_t value(DType dtype, Shape shape, bool input = false, bool constant = false,
                int64_t producer = -1) {
    TraceValue v;
    v.id = static_cast<int64_t>(trace.values.size());
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.is_input = input;
    v.name = "v" + std::to_string(v.id);
    v.producer = producer;
    if (constant) v.constant = std::make_shared<TensorData>(dtype, v.shape);
    trace.values.push_back(v);
    return v.id;
  }
  int64_t node(TraceKind kind, std::string op, int64_t parent, std::vector<TraceArg> args,
               std::vector<int64_t> outputs) {
    TraceNode n;
    n.id = static_cast<int64_t>(trace.nodes.size());
    n.kind = kind;
    n.op = std::move(op);
    n.parent = parent;
    n.args = std::move(args);
    n.outputs = std::move(outputs);
    if (parent >= 0)
      trace.nodes[parent].children.push_back(n.id);
    else
      trace.roots.push_back(n.id);
    trace.nodes.push_back(n);
    return n.id;
  }
};

TraceArg tensor(std::string name, int64_t id) { return {std::move(name), {id}, false, {}}; }

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    x = f.value(DType::kFloat32, {1, 3, 4, 4}, true);
    w = f.value(DType::kFloat32, {8, 3, 1, 1}, false, true);
    y = f.value(DType::kFloat32, {1, 8, 4, 4});
    z = f.value(DType::kFloat32, {1, 8, 4, 4});
    dead = f.value(DType::kFloat32, {1, 8, 4, 4});
    root = f.node(TraceKind::kModule, "M", -1, {tensor("x", x)}, {z});
    conv =
        f.node(TraceKind::kFunction, "torch.nn.functional.conv2d", root,
               {tensor("input", x), tensor("weight", w), {"stride", {}, false, int64_t{1}}}, {y});
    aten_conv =
        f.node(TraceKind::kAten, "aten.convolution.default", conv, {tensor("input", x)}, {y});
    hs = f.node(TraceKind::kFunction, "torch.nn.functional.hardsigmoid", root, {tensor("input", y)},
                {z});
    aten_hs = f.node(TraceKind::kAten, "aten.hardsigmoid.default", hs, {tensor("input", y)}, {z});
    relu = f.node(TraceKind::kFunction, "torch.relu", root, {tensor("input", y)}, {dead});
    f.trace.inputs = {x};
    f.trace.outputs = {z};
  }
  Fixture f;
  int64_t x, w, y, z, dead, root, conv, aten_conv, hs, aten_hs, relu;
};

TEST_F(ImportTest, PicksTheHighestLevelWithARule) {
  std::set<std::string> rules = {"torch.nn.functional.conv2d", "torch.nn.functional.hardsigmoid",
                                 "aten.convolution.default", "torch.relu"};
  auto result = import_trace(f.trace, [&](const std::string& op) { return rules.count(op) > 0; });
  EXPECT_EQ(result.converted, (std::vector<int64_t>{conv, hs}));
  EXPECT_EQ(result.unused, (std::vector<int64_t>{relu}));
  EXPECT_TRUE(result.unsupported.empty());
  auto nodes = result.graph->nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0]->op, "torch.nn.functional.conv2d");
  EXPECT_EQ(nodes[0]->input_args, (std::vector<std::string>{"input", "weight"}));
  EXPECT_EQ(nodes[0]->attrs.get_int("stride"), 1);
  EXPECT_TRUE(nodes[0]->inputs[1]->is_constant());
  EXPECT_EQ(result.graph->outputs.size(), 1u);
}

TEST_F(ImportTest, FallsBackToAtenAndReportsEachMissingOpWhereItIs) {
  std::set<std::string> rules = {"aten.convolution.default"};
  auto result = import_trace(f.trace, [&](const std::string& op) { return rules.count(op) > 0; });
  ASSERT_EQ(result.unsupported.size(), 1u);
  EXPECT_EQ(result.unsupported[0].node, aten_hs);
  EXPECT_NE(result.unsupported[0].message.find("aten.hardsigmoid.default"), std::string::npos);
  EXPECT_EQ(result.converted, (std::vector<int64_t>{aten_conv}));
}

TEST_F(ImportTest, UserConverterTakesTheCallWhole) {
  f.trace.nodes[hs].user_converter = 7;
  f.trace.nodes[hs].user_strategy = "minimum_transpositions";
  auto result =
      import_trace(f.trace, [](const std::string& op) { return op == "aten.convolution.default"; });
  EXPECT_TRUE(result.unsupported.empty());
  auto nodes = result.graph->nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1]->op, "ferry.user");
  EXPECT_EQ(nodes[1]->attrs.get_int("converter"), 7);
  EXPECT_EQ(nodes[1]->attrs.get_string("target"), "torch.nn.functional.hardsigmoid");
}

TEST_F(ImportTest, AValueWrittenInsideAnotherCallIsAnErrorNotAGuess) {
  // z is needed, but nothing selected produces it (as after an in-place write into a view).
  f.trace.nodes[hs].outputs = {};
  f.trace.nodes[aten_hs].outputs = {};
  f.trace.values[z].producer = aten_hs;
  auto result = import_trace(f.trace, [](const std::string& op) { return op != "M"; });
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].node, aten_hs);
  EXPECT_NE(result.errors[0].message.find("in-place"), std::string::npos);
}

TEST_F(ImportTest, AnArgumentFromAnUnconvertibleCallNamesThatCall) {
  // sigmoid(hardsigmoid(conv(x))) with no rule for hardsigmoid at any level: sigmoid's input
  // is missing because of hardsigmoid, and its error says so (not "computed inside another
  // converted call").
  int64_t s = f.value(DType::kFloat32, {1, 8, 4, 4});
  f.node(TraceKind::kFunction, "torch.sigmoid", root, {tensor("input", z)}, {s});
  f.trace.outputs = {s};
  std::set<std::string> rules = {"torch.nn.functional.conv2d", "torch.sigmoid"};
  auto result = import_trace(f.trace, [&](const std::string& op) { return rules.count(op) > 0; });
  ASSERT_EQ(result.unsupported.size(), 1u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].message.find("comes from 'aten.hardsigmoid.default'"),
            std::string::npos)
      << result.errors[0].message;
  EXPECT_NE(result.errors[0].message.find("no converter"), std::string::npos);
}

}  // namespace
}  // namespace ferry
