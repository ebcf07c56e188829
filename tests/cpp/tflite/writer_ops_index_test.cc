// Op mappings of writer_ops_index.cc: GATHER, SCATTER_ND and TOPK_V2, their versions, the
// types their kernels take and min_runtime_version.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

std::string runtime(const Written& w) {
  const std::string& v = w.info.metadata.at(0).second;
  return v.substr(0, v.find('\0'));
}

Value* op(Graph& g, const std::string& name, std::vector<Value*> in, Shape shape, DType dtype,
          Attrs attrs = {}) {
  Node* n = g.add_node(name, std::move(in), std::move(attrs));
  n->scope = "block." + name;
  Value* v = g.add_value(dtype, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

TEST(TfliteWriterIndex, GatherCarriesItsAxis) {
  Graph g;
  Attrs a;
  a.set("axis", int64_t{1});
  Value* y = op(g, "gather", {input(g, {2, 5, 3}), input(g, {4}, DType::kInt32)}, {2, 4, 3},
                DType::kFloat32, a);
  Written w = write(g, y);
  ASSERT_EQ(w.names(), (std::vector<std::string>{"GATHER"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_GatherOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->axis(), 1);
}

TEST(TfliteWriterIndex, ScatterNdTakesAConstantInt32Shape) {
  Graph g;
  Attrs a;
  a.set("shape", std::vector<int64_t>{10});
  Value* y = op(g, "scatter_nd", {input(g, {4, 1}, DType::kInt32), input(g, {4})}, {10},
                DType::kFloat32, a);
  Written w = write(g, y);
  ASSERT_EQ(w.names(), (std::vector<std::string>{"SCATTER_ND"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  EXPECT_EQ(runtime(w), "2.1.0");
}

TEST(TfliteWriterIndex, ScatterNdRefusesTypesItsKernelLacks) {
  Graph g;
  Attrs a;
  a.set("shape", std::vector<int64_t>{10});
  Value* y = op(g, "scatter_nd", {input(g, {4, 1}, DType::kInt32), input(g, {4}, DType::kBool)},
                {10}, DType::kBool, a);
  EXPECT_THROW(write(g, y), TfliteError);
}

TEST(TfliteWriterIndex, TopKHasTwoOutputsAndInt32Indices) {
  Graph g;
  Attrs a;
  a.set("k", int64_t{2});
  Node* n = g.add_node("top_k", {input(g, {3, 6})}, a);
  n->scope = "block.top_k";
  Value* values = g.add_value(DType::kFloat32, {3, 2});
  Value* indices = g.add_value(DType::kInt32, {3, 2});
  g.add_output_to(n, values);
  g.add_output_to(n, indices);
  g.outputs = {values, indices};
  Written w = write(g);
  ASSERT_EQ(w.names(), (std::vector<std::string>{"TOPK_V2"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  EXPECT_EQ(runtime(w), "1.7.0");
}

}  // namespace
}  // namespace ferry::tflite
