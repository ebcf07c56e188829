#pragma once

// Writing a hand-built TF-level graph and reading the result back, for op-mapping tests: op
// codes, versions and the options tables of the emitted operators.
#include <algorithm>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "tflite/ferry_tflite_generated.h"
#include "tflite/reader.h"
#include "tflite/writer.h"

namespace ferry::tflite {

namespace fb = ferry::tflite_fb;

inline Value* input(Graph& g, Shape shape, DType dtype = DType::kFloat32) {
  Value* x = g.add_value(dtype, std::move(shape), "x" + std::to_string(g.inputs.size()));
  x->layout = Layout::kFixed;
  g.inputs.push_back(x);
  return x;
}

// Writes the graph whose only output is `out`, keeping the bytes for option checks.
struct Written {
  std::string bytes;
  TfliteModelInfo info;
  const fb::Operator* op(size_t i) const {
    return fb::GetModel(bytes.data())->subgraphs()->Get(0)->operators()->Get(i);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& op : info.ops) v.push_back(op.name);
    return v;
  }
  template <typename T>
  std::vector<T> data(int tensor) const {
    auto* model = fb::GetModel(bytes.data());
    auto* buf =
        model->buffers()->Get(model->subgraphs()->Get(0)->tensors()->Get(tensor)->buffer())->data();
    auto* p = reinterpret_cast<const T*>(buf->data());
    return std::vector<T>(p, p + buf->size() / sizeof(T));
  }
  std::vector<int32_t> int32_data(int tensor) const { return data<int32_t>(tensor); }
  std::vector<float> floats(int tensor) const { return data<float>(tensor); }
  size_t count(const std::string& name) const {
    return static_cast<size_t>(std::count_if(info.ops.begin(), info.ops.end(),
                                             [&](const TfliteOp& op) { return op.name == name; }));
  }
  // The operator writing tensor `t`, or -1.
  int producer(int32_t t) const {
    for (size_t i = 0; i < info.ops.size(); ++i)
      for (int32_t o : info.ops[i].outputs)
        if (o == t) return static_cast<int>(i);
    return -1;
  }
};

// Writes the graph with the outputs it has.
inline Written write(Graph& g, const WriteOptions& options = {}) {
  Written w;
  w.bytes = write_tflite(g, options);
  w.info = read_tflite(w.bytes.data(), w.bytes.size());
  return w;
}

// Writes the graph whose only output is `out`.
inline Written write(Graph& g, Value* out) {
  g.outputs.push_back(out);
  return write(g);
}

}  // namespace ferry::tflite
