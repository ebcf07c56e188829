// Op mappings of writer_ops_resize.cc: the builtins where exact, else the separable form.
#include <gtest/gtest.h>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

Attrs resize_attrs(const std::string& method, const std::string& coordinate) {
  Attrs a;
  a.set("size", std::vector<int64_t>{6, 10});
  a.set("method", method);
  a.set("coordinate", coordinate);
  return a;
}

Written write_resize(const Attrs& attrs) {
  Graph g;
  Value* x = input(g, {1, 3, 5, 2});
  return write(g, tiny_op(g, "resize", {x}, {1, 6, 10, 2}, attrs));
}

TEST(TfliteWriterOps, ResizeBilinearHalfPixel) {
  Written w = write_resize(resize_attrs("bilinear", "half_pixel"));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"RESIZE_BILINEAR"}));
  EXPECT_EQ(w.info.ops[0].version, 3);
  auto* o = w.op(0)->builtin_options_as_ResizeBilinearOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->align_corners());
  EXPECT_TRUE(o->half_pixel_centers());
  // The size is an int32 [2] tensor.
  const auto& size = w.info.tensors[w.info.ops[0].inputs[1]];
  EXPECT_EQ(size.dtype, "INT32");
  EXPECT_EQ(size.shape, (std::vector<int32_t>{2}));
  EXPECT_EQ(w.int32_data(w.info.ops[0].inputs[1]), (std::vector<int32_t>{6, 10}));
  EXPECT_EQ(w.info.metadata[0].second.substr(0, 6), std::string("2.2.0\0", 6));
}

TEST(TfliteWriterOps, ResizeBilinearAlignCorners) {
  Written w = write_resize(resize_attrs("bilinear", "align_corners"));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_ResizeBilinearOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(o->align_corners());
  EXPECT_FALSE(o->half_pixel_centers());
}

TEST(TfliteWriterOps, ResizeNearest) {
  Written w = write_resize(resize_attrs("nearest", "asymmetric"));
  ASSERT_EQ(w.names(), (std::vector<std::string>{"RESIZE_NEAREST_NEIGHBOR"}));
  EXPECT_EQ(w.info.ops[0].version, 1);
  auto* o = w.op(0)->builtin_options_as_ResizeNearestNeighborOptions();
  ASSERT_NE(o, nullptr);
  EXPECT_FALSE(o->align_corners());
  EXPECT_FALSE(o->half_pixel_centers());

  Written h = write_resize(resize_attrs("nearest", "half_pixel"));
  EXPECT_EQ(h.info.ops[0].version, 3);
  EXPECT_TRUE(h.op(0)->builtin_options_as_ResizeNearestNeighborOptions()->half_pixel_centers());
}

TEST(TfliteWriterOps, ResizeWithoutExactBuiltinIsSeparable) {
  // bicubic: per axis (width, then height) 4 GATHERs along it, each MUL by its weights, summed.
  Written w = write_resize(resize_attrs("bicubic", "half_pixel"));
  std::vector<std::string> axis = {"GATHER", "MUL", "GATHER", "MUL", "ADD", "GATHER",
                                   "MUL",    "ADD", "GATHER", "MUL", "ADD"};
  std::vector<std::string> both = axis;
  both.insert(both.end(), axis.begin(), axis.end());
  EXPECT_EQ(w.names(), both);
  for (const auto& op : w.info.ops) EXPECT_EQ(op.version, 1);
  // A scale that moves samples: nearest is one GATHER per axis.
  Attrs scaled = resize_attrs("nearest", "asymmetric");
  scaled.set("scale", std::vector<double>{1.3, 1.7});
  EXPECT_EQ(write_resize(scaled).names(), (std::vector<std::string>{"GATHER", "GATHER"}));
}

TEST(TfliteWriterOps, ResizeRefusals) {
  Graph g;
  Value* x = input(g, {1, 3, 5, 2}, DType::kFloat64);
  Attrs a = resize_attrs("bilinear", "half_pixel");
  a.set("scale", std::vector<double>{1.5, 1.5});
  try {
    write(g, tiny_op(g, "resize", {x}, {1, 6, 10, 2}, a));
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    EXPECT_NE(std::string(e.what()).find("convert the model to float32"), std::string::npos);
  }
  try {
    write_resize(resize_attrs("nearest", "align_corners"));
    FAIL() << "expected TfliteError";
  } catch (const TfliteError& e) {
    EXPECT_NE(std::string(e.what()).find("block.resize"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ferry::tflite
