#pragma once

#include <stdexcept>
#include <string>

#include "ir/graph.h"

namespace ferry::tflite {

// A TF-level op (or a feature of one) the TFLite writer cannot express yet. The message names
// the op and the PyTorch scope it came from.
class TfliteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Serialises the final TF-level graph (after layout and cleanup: every value in its physical
// shape) as a TFLite flatbuffer with one subgraph and a "serving_default" signature named
// after graph.input_names / output_names. Batch norms are folded into the convolution or
// dense layer before them where possible, and RELU/RELU6 into the op they follow. The same
// graph always gives the same bytes. Throws TfliteError for what it cannot express.
std::string write_tflite(const Graph& graph);

}  // namespace ferry::tflite
