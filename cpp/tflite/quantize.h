#pragma once

// Full integer quantization of a written model (quantize="int8"): a pass over the main
// subgraph, once every operator is written in float32, that turns it into the int8 form the
// builtins' kernels (and XNNPACK's QS8 ones) run. Internal to cpp/tflite.
//
// - Computed float32 tensors become INT8, per tensor and asymmetric, from the ranges the caller
//   observed on the float file (Int8Activations). Operators whose kernels need their input's
//   scale on the output (reshape, transpose, pooling, padding, concatenation, ...) tie their
//   tensors into one range; LOGISTIC, TANH and SOFTMAX outputs take the scales their kernels fix.
// - Convolution and dense kernels become INT8, symmetric per output channel; their biases INT32
//   at input scale x kernel scale. Other float constants feeding an int8 operator take the
//   operator's tied scale or their own range.
// - An operator with no int8 form here, or kept float (keep_float), reads its int8 inputs
//   through DEQUANTIZE and writes its outputs through QUANTIZE; the pass reports each such
//   operator in the user's terms.
// - The model's inputs and outputs are float32 behind one QUANTIZE / DEQUANTIZE each, or the
//   int8 tensors themselves, or UINT8 re-quantized at the boundary (IoType).

#include <string>
#include <vector>

#include "tflite/builder.h"

namespace ferry::tflite {

struct Int8Result {
  // What the user should hear: operators left float, keep_float entries that matched nothing.
  std::vector<std::string> warnings;
  // Tensor index before the pass -> after (-1: dropped, a float constant it replaced).
  std::vector<int> tensor_map;
};

// Rewrites the current (main) subgraph of `m`; `inputs`, `outputs` and `signature` are the
// model boundary, updated where it gains float32 or uint8 tensors and renumbered. Throws
// TfliteError when the ranges do not belong to this model.
Int8Result quantize_int8(ModelBuilder& m, const Int8Activations& q,
                         const std::vector<std::string>& keep_float, std::vector<int>& inputs,
                         std::vector<int>& outputs, ModelBuilder::Signature& signature);

}  // namespace ferry::tflite
