// Writes the fuzzer's seed corpus: small models from Ferry's own writer, one per layout and
// op family it emits, so that mutations start from files the reader must accept and reach
// every table it reads. Usage: ferry-tflite-seeds DIR (DIR must exist).
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "tiny_graph.h"
#include "written_model.h"

namespace ferry::tflite {
namespace {

struct Seed {
  std::string name;
  std::function<void(Graph&)> build;
  WriteOptions options = {};
};

WriteOptions placed(BufferPlacement placement, bool float16 = false,
                    RecurrentForm recurrent = RecurrentForm::kUnrolled) {
  WriteOptions o;
  o.placement = placement;
  o.float16_weights = float16;
  o.recurrent = recurrent;
  return o;
}

Value* typed(Graph& g, const std::string& op, std::vector<Value*> in, Shape shape, DType dtype) {
  Node* n = g.add_node(op, std::move(in));
  n->scope = "block." + op;
  Value* v = g.add_value(dtype, std::move(shape));
  g.add_output_to(n, v);
  return v;
}

void lstm(Graph& g) {
  Value* x = input(g, {2, 3, 4});
  recurrent(g, "lstm",
            {x, nullptr, nullptr, tiny_const(g, {4, 20}, -1.0f), tiny_const(g, {5, 20}, 0.5f),
             tiny_const(g, {20}, 0.0f)},
            5, false);
}

// Only y and h_n read: what the sequence form writes as UNIDIRECTIONAL_SEQUENCE_LSTM.
void lstm_without_cell(Graph& g) {
  lstm(g);
  g.outputs.resize(2);
}

void gru_bidirectional(Graph& g) {
  Value* x = input(g, {1, 4, 3});
  std::vector<Value*> inputs{x};
  for (int dir = 0; dir < 2; ++dir)
    for (Value* v : {input(g, {1, 2}), tiny_const(g, {3, 6}, 0.0f), tiny_const(g, {2, 6}, 1.0f),
                     tiny_const(g, {2, 6}, 0.0f)})
      inputs.push_back(v);
  recurrent(g, "gru", inputs, 2, true);
}

void embedding(Graph& g) {
  Value* ids = input(g, {2, 3}, DType::kInt64);
  g.outputs.push_back(tiny_op(g, "embedding", {ids, tiny_const(g, {10, 4}, 0.0f)}, {2, 3, 4}));
}

void depthwise_pool_concat(Graph& g) {
  Value* x = input(g, {1, 4, 4, 2});
  Attrs conv;
  conv.set("strides", std::vector<int64_t>{1, 1});
  conv.set("dilations", std::vector<int64_t>{1, 1});
  conv.set("padding", std::string("SAME"));
  Value* d = tiny_op(g, "depthwise_conv", {x, tiny_const(g, {3, 3, 2, 2}, 0.5f), nullptr},
                     {1, 4, 4, 4}, conv);
  Value* r = tiny_op(g, "relu6", {d}, {1, 4, 4, 4});
  Attrs pool;
  pool.set("pool_size", std::vector<int64_t>{2, 2});
  pool.set("strides", std::vector<int64_t>{2, 2});
  pool.set("padding", std::string("VALID"));
  Value* mx = tiny_op(g, "max_pool", {r}, {1, 2, 2, 4}, pool);
  Value* av = tiny_op(g, "avg_pool", {r}, {1, 2, 2, 4}, pool);
  Attrs cat;
  cat.set("axis", int64_t{3});
  g.outputs.push_back(tiny_op(g, "concat", {mx, av}, {1, 2, 2, 8}, cat));
}

void conv1d_and_conv3d(Graph& g) {
  Attrs line;
  line.set("strides", std::vector<int64_t>{2});
  line.set("dilations", std::vector<int64_t>{1});
  line.set("groups", int64_t{1});
  line.set("padding", std::string("VALID"));
  g.outputs.push_back(tiny_op(
      g, "conv", {input(g, {1, 9, 2}), tiny_const(g, {3, 2, 4}, 0.0f), nullptr}, {1, 4, 4}, line));
  Attrs cube;
  cube.set("strides", std::vector<int64_t>{1, 2, 3});
  cube.set("dilations", std::vector<int64_t>{2, 1, 1});
  cube.set("groups", int64_t{1});
  cube.set("padding", std::string("VALID"));
  Value* c =
      tiny_op(g, "conv", {input(g, {1, 6, 7, 8, 2}), tiny_const(g, {2, 3, 2, 2, 4}, 0.0f), nullptr},
              {1, 4, 3, 3, 4}, cube);
  g.outputs.push_back(tiny_op(g, "relu", {c}, {1, 4, 3, 3, 4}));
}

void attention_pieces(Graph& g) {
  Value* x = input(g, {2, 5, 8});
  Attrs norm;
  norm.set("axes", std::vector<int64_t>{2});
  norm.set("epsilon", 1e-5);
  Value* n = tiny_op(g, "layer_norm", {x, tiny_const(g, {8}, 1.0f), tiny_const(g, {8}, -1.0f)},
                     {2, 5, 8}, norm);
  Attrs mm;
  mm.set("transpose_a", false);
  mm.set("transpose_b", true);
  Value* scores = tiny_op(g, "matmul", {n, n}, {2, 5, 5}, mm);
  Attrs soft;
  soft.set("axis", int64_t{1});
  Value* s = tiny_op(g, "softmax", {scores}, {2, 5, 5}, soft);
  Attrs gelu;
  gelu.set("approximate", std::string("tanh"));
  g.outputs.push_back(tiny_op(g, "gelu", {s}, {2, 5, 5}, gelu));
}

void resize_and_select(Graph& g) {
  Attrs resize;
  resize.set("size", std::vector<int64_t>{6, 10});
  resize.set("method", std::string("bilinear"));
  resize.set("coordinate", std::string("half_pixel"));
  g.outputs.push_back(tiny_op(g, "resize", {input(g, {1, 3, 5, 2})}, {1, 6, 10, 2}, resize));
  Value* a = input(g, {2, 3});
  Value* b = input(g, {3});
  Value* less = typed(g, "less", {a, b}, {2, 3}, DType::kBool);
  g.outputs.push_back(tiny_op(g, "where", {less, a, b}, {2, 3}));
}

std::vector<Seed> seeds() {
  auto tiny = [](Graph& g) { build_tiny_graph(g); };
  return {
      {"conv_dense", tiny},
      {"conv_dense_mul", [](Graph& g) { build_tiny_graph(g, "mul"); }},
      {"conv_dense_external", tiny, placed(BufferPlacement::kExternal)},
      {"conv_dense_float16", tiny, placed(BufferPlacement::kInline, true)},
      {"conv_dense_float16_external", tiny, placed(BufferPlacement::kExternal, true)},
      {"lstm", lstm, placed(BufferPlacement::kInline)},
      {"lstm_external", lstm, placed(BufferPlacement::kExternal)},
      {"lstm_sequence", lstm_without_cell,
       placed(BufferPlacement::kInline, false, RecurrentForm::kSequence)},
      {"gru_bidirectional", gru_bidirectional},
      {"embedding_float16_external", embedding, placed(BufferPlacement::kExternal, true)},
      {"embedding", embedding},
      {"depthwise_pool_concat", depthwise_pool_concat},
      {"conv1d_conv3d", conv1d_and_conv3d},
      {"attention_pieces", attention_pieces},
      {"resize_select", resize_and_select},
  };
}

}  // namespace
}  // namespace ferry::tflite

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int failed = 0;
  for (const auto& seed : ferry::tflite::seeds()) {
    try {
      ferry::Graph g;
      seed.build(g);
      ferry::tflite::write_tflite_model(g, seed.options)
          .write_file(dir + "/" + seed.name + ".tflite");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", seed.name.c_str(), e.what());
      ++failed;
    }
  }
  return failed ? 1 : 0;
}
