// PyTorch's own quantization (a PT2E-converted model): its quantize / dequantize calls. In the
// TF-level graph each passes its float input on unchanged; the scale and zero point they
// carry reach the TFLite writer's int8 pass from the Python front (ferry/imported_quantization.py),
// which refuses such a model in any form but quantize="int8", where they are kept exactly.
#include "lower/rules.h"

namespace ferry {
namespace {

void pass_through(LowerContext& ctx) {
  const Node& node = ctx.node();
  if (node.inputs.empty() || !node.inputs[0])
    throw LowerError("a quantize / dequantize call without its tensor");
  for (size_t i = 1; i < node.inputs.size(); ++i)
    if (node.inputs[i])
      throw LowerError(
          "scale and zero point given as tensors (the .tensor overload): only the "
          "scalar overload (.default) is read");
  ctx.set_output(0, ctx.in_opt_value(node.inputs[0]));
}

}  // namespace

void register_quantized_rules(Registry& registry) {
  registry.add({{"quantized_decomposed.quantize_per_tensor.default",
                 "quantized_decomposed.dequantize_per_tensor.default"},
                pass_through,
                "identity: its scale and zero point are kept by quantize='int8' "
                "(docs/quantization.md)",
                /*free_sizes=*/true});
}

}  // namespace ferry
