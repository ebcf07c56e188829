// Grouped convolutions and fused activations: one native grouped CONV_2D, and no activation
// fused into an op whose LiteRT kernel rejects it (CONCATENATION).
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

Attrs conv_attrs(size_t spatial, int64_t groups) {
  Attrs a;
  a.set("strides", std::vector<int64_t>(spatial, 1));
  a.set("dilations", std::vector<int64_t>(spatial, 1));
  a.set("groups", groups);
  a.set("padding", std::string("VALID"));
  return a;
}

std::string runtime(const Written& w) {
  const std::string& v = w.info.metadata.at(0).second;
  return v.substr(0, v.find('\0'));
}

TEST(TfliteWriterConv, GroupedConv2dIsOneVersion6Conv) {
  Graph g;
  Value* x = input(g, {1, 5, 5, 8});
  // HWIO [3, 3, 8/4, 6]: four groups of two input channels.
  Value* c = tiny_op(g, "conv", {x, tiny_const(g, {3, 3, 2, 6}, 0.5f), nullptr}, {1, 3, 3, 6},
                     conv_attrs(2, 4));
  Written w = write(g, tiny_op(g, "relu", {c}, {1, 3, 3, 6}));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"CONV_2D"}));
  EXPECT_EQ(w.info.ops[0].version, 6);
  EXPECT_EQ(w.info.ops[0].fused_activation, "RELU");
  EXPECT_EQ(w.info.tensors[w.info.ops[0].inputs[1]].shape, (std::vector<int32_t>{6, 3, 3, 2}));
  EXPECT_EQ(runtime(w), "2.9.0");
}

TEST(TfliteWriterConv, GroupedConv3dKeepsItsActivationOutOfTheConcatenation) {
  Graph g;
  Value* x = input(g, {1, 3, 3, 3, 4});
  Value* c = tiny_op(g, "conv", {x, tiny_const(g, {1, 1, 1, 2, 4}, 0.5f), nullptr}, {1, 3, 3, 3, 4},
                     conv_attrs(3, 2));
  Written w = write(g, tiny_op(g, "relu", {c}, {1, 3, 3, 3, 4}));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"STRIDED_SLICE", "CONV_3D", "STRIDED_SLICE",
                                                 "CONV_3D", "CONCATENATION", "RELU"}));
  for (const auto& op : w.info.ops)
    if (!op.fused_activation.empty()) EXPECT_EQ(op.fused_activation, "NONE") << op.name;
}

}  // namespace
}  // namespace ferry::tflite
