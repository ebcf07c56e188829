#pragma once

// The version an operator must carry, from its tensors' types and ranks, following the
// format's versioning rules for the builtins Ferry emits with a type- or rank-dependent
// version. Ops whose version depends on options (conv dilation, keep_num_dims,
// half_pixel_centers) pick it where they are written. Internal to cpp/tflite.
#include <vector>

#include "tflite/builder.h"

namespace ferry::tflite {

// `inputs` and `outputs` are tensor indices in `m`; -1 marks an absent optional input.
int op_version(fb::BuiltinOperator code, const ModelBuilder& m, const std::vector<int32_t>& inputs,
               const std::vector<int32_t>& outputs);

}  // namespace ferry::tflite
