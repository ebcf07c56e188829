#pragma once

#include <map>
#include <string>

namespace ferry::tflite {

// What the writer turns each TF-level op (docs/tf_ops.md) into, in words, for the generated
// op reference (docs/ops.md). A unit test keeps it in step with the layout table, which lists
// every TF-level op.
const std::map<std::string, std::string>& builtin_forms();

}  // namespace ferry::tflite
