// writer_ops_space_depth.cc: SPACE_TO_DEPTH / DEPTH_TO_SPACE with their options, versions and
// runtimes, and the types refused.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

Attrs block(int64_t size) {
  Attrs a;
  a.set("block_size", size);
  return a;
}

std::string runtime(const Written& w) {
  for (const auto& [key, value] : w.info.metadata)
    if (key == "min_runtime_version") return value.substr(0, value.find('\0'));
  return "";
}

TEST(TfliteWriterOps, SpaceToDepth) {
  Graph g;
  Value* x = input(g, {1, 6, 4, 3});
  Written w = write(g, tiny_op(g, "space_to_depth", {x}, {1, 3, 2, 12}, block(2)));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"SPACE_TO_DEPTH"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_SpaceToDepthOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->block_size(), 2);
  EXPECT_EQ(w.info.tensors[w.info.ops[0].outputs[0]].shape, (std::vector<int32_t>{1, 3, 2, 12}));
  EXPECT_EQ(runtime(w), "1.5.0");
}

TEST(TfliteWriterOps, DepthToSpace) {
  Graph g;
  Value* x = input(g, {2, 2, 3, 18});
  Written w = write(g, tiny_op(g, "depth_to_space", {x}, {2, 6, 9, 2}, block(3)));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"DEPTH_TO_SPACE"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_DepthToSpaceOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->block_size(), 3);
  EXPECT_EQ(runtime(w), "2.1.0");  // the first runtime with DEPTH_TO_SPACE
}

TEST(TfliteWriterOps, SpaceDepthTypesWithoutAKernelAreRefused) {
  Graph g;
  Value* x = input(g, {1, 4, 4, 2}, DType::kFloat16);
  Node* n = g.add_node("space_to_depth", {x}, block(2));
  n->scope = "blocks";
  Value* y = g.add_value(DType::kFloat16, {1, 2, 2, 8});
  g.add_output_to(n, y);
  try {
    write(g, y);
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("float16"), std::string::npos) << what;
    EXPECT_NE(what.find("'space_to_depth'"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ferry::tflite
