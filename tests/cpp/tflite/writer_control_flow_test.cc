// A `while` node becomes WHILE with its condition and body as subgraphs of their own.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tflite/ferry_tflite_generated.h"
#include "tflite/reader.h"
#include "tflite/writer.h"

namespace ferry::tflite {
namespace {

Value* op(Graph& g, const std::string& name, std::vector<Value*> in, DType dtype, Shape shape) {
  Node* n = g.add_node(name, std::move(in));
  Value* v = g.add_value(dtype, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

Value* scalar(Graph& g, DType dtype, double value) {
  auto data = std::make_shared<TensorData>(dtype, Shape{});
  if (dtype == DType::kInt32)
    data->mutable_as<int32_t>()[0] = static_cast<int32_t>(value);
  else
    data->mutable_as<float>()[0] = static_cast<float>(value);
  return g.add_constant(data);
}

// Loop values (i: int32 [], x: float32 [2, 3]); both functions take them in that order.
std::shared_ptr<Graph> loop_function(bool is_body) {
  auto g = std::make_shared<Graph>();
  Value* i = g->add_value(DType::kInt32, {}, "i");
  Value* x = g->add_value(DType::kFloat32, {2, 3}, "x");
  g->inputs = {i, x};
  if (is_body) {
    g->outputs = {op(*g, "add", {i, scalar(*g, DType::kInt32, 1)}, DType::kInt32, {}),
                  op(*g, "mul", {x, scalar(*g, DType::kFloat32, 2)}, DType::kFloat32, {2, 3})};
  } else {
    g->outputs = {op(*g, "less", {i, scalar(*g, DType::kInt32, 3)}, DType::kBool, {})};
  }
  return g;
}

TEST(TfliteWriterControlFlow, WhileWritesItsFunctionsAsSubgraphs) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 3}, "x");
  g.inputs = {x};
  Node* loop = g.add_node("while", {scalar(g, DType::kInt32, 0), x});
  loop->bodies = {{"cond", nullptr, loop_function(false)}, {"body", nullptr, loop_function(true)}};
  Value* steps = g.add_value(DType::kInt32, {});
  Value* result = g.add_value(DType::kFloat32, {2, 3});
  g.add_output_to(loop, steps);
  g.add_output_to(loop, result);
  g.outputs = {result};

  const std::string bytes = write_tflite(g);
  const TfliteModelInfo main = read_tflite(bytes.data(), bytes.size());
  ASSERT_EQ(main.ops.size(), 1u);
  EXPECT_EQ(main.ops[0].name, "WHILE");
  EXPECT_EQ(main.ops[0].outputs.size(), 2u);  // every loop value, read or not

  const auto* model = tflite_fb::GetModel(bytes.data());
  ASSERT_EQ(model->subgraphs()->size(), 3u);
  const auto* options =
      model->subgraphs()->Get(0)->operators()->Get(0)->builtin_options_as_WhileOptions();
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options->cond_subgraph_index(), 1);
  EXPECT_EQ(options->body_subgraph_index(), 2);
  auto op_names = [&](int k) {
    std::vector<std::string> names;
    for (const auto* o : *model->subgraphs()->Get(k)->operators()) {
      names.push_back(tflite_fb::EnumNameBuiltinOperator(
          model->operator_codes()->Get(o->opcode_index())->builtin_code()));
    }
    return names;
  };
  EXPECT_EQ(op_names(1), (std::vector<std::string>{"LESS"}));
  EXPECT_EQ(op_names(2), (std::vector<std::string>{"ADD", "MUL"}));
  for (int k = 1; k <= 2; ++k) {
    const auto* sg = model->subgraphs()->Get(k);
    EXPECT_EQ(sg->inputs()->size(), 2u);  // both loop values, in order
    EXPECT_EQ(sg->outputs()->size(), k == 1 ? 1u : 2u);
    EXPECT_EQ(sg->tensors()->Get(sg->inputs()->Get(0))->type(), tflite_fb::TensorType_INT32);
  }
}

TEST(TfliteWriterControlFlow, IfWritesEachBranchAsASubgraph) {
  auto branch = [](const std::string& op_name, double operand) {
    auto g = std::make_shared<Graph>();
    Value* x = g->add_value(DType::kFloat32, {2, 3}, "x");
    g->inputs = {x};
    g->outputs = {
        op(*g, op_name, {x, scalar(*g, DType::kFloat32, operand)}, DType::kFloat32, {2, 3})};
    return g;
  };
  Graph g;
  Value* pred = g.add_value(DType::kBool, {}, "pred");
  Value* x = g.add_value(DType::kFloat32, {2, 3}, "x");
  g.inputs = {pred, x};
  Node* node = g.add_node("if", {pred, x});
  node->bodies = {{"then", nullptr, branch("mul", 2)}, {"else", nullptr, branch("add", 1)}};
  Value* out = g.add_value(DType::kFloat32, {2, 3});
  g.add_output_to(node, out);
  g.outputs = {out};

  const std::string bytes = write_tflite(g);
  const auto* model = tflite_fb::GetModel(bytes.data());
  ASSERT_EQ(model->subgraphs()->size(), 3u);
  const auto* main = model->subgraphs()->Get(0)->operators()->Get(0);
  EXPECT_EQ(main->inputs()->size(), 2u);  // the predicate, then what the branches take
  const auto* options = main->builtin_options_as_IfOptions();
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options->then_subgraph_index(), 1);
  EXPECT_EQ(options->else_subgraph_index(), 2);
  EXPECT_EQ(model->subgraphs()->Get(1)->inputs()->size(), 1u);
}

TEST(TfliteWriterControlFlow, AnUnconvertedBodyIsRefused) {
  Graph g;
  Value* x = g.add_value(DType::kFloat32, {2, 3}, "x");
  g.inputs = {x};
  Node* loop = g.add_node("while", {x});
  loop->bodies = {{"cond", nullptr, nullptr}, {"body", nullptr, nullptr}};
  Value* out = g.add_value(DType::kFloat32, {2, 3});
  g.add_output_to(loop, out);
  g.outputs = {out};
  EXPECT_THROW(write_tflite(g), TfliteError);
}

}  // namespace
}  // namespace ferry::tflite
