#include "tflite/op_table.h"

#include <gtest/gtest.h>

#include <set>

#include "layout/op_layout.h"

namespace ferry {
namespace {

// The op reference (docs/ops.md) tells users what each TF-level op becomes in a .tflite file;
// an op added to the layout table without a word here would show an empty cell.
TEST(TfliteOpTable, DescribesEveryTfLevelOpAndNothingElse) {
  std::set<std::string> ops;
  for (const auto& [op, cls] : tf_op_layouts()) {
    ops.insert(op);
    EXPECT_TRUE(tflite::builtin_forms().count(op)) << "no .tflite form described for " << op;
  }
  for (const auto& [op, form] : tflite::builtin_forms()) {
    EXPECT_TRUE(ops.count(op)) << op << " is described but is no TF-level op";
    EXPECT_FALSE(form.empty()) << op;
  }
}

TEST(TfliteOpTable, NamesEveryLayoutClass) {
  for (const auto& [op, cls] : tf_op_layouts()) EXPECT_NE(layout_class_name(cls), "?") << op;
}

}  // namespace
}  // namespace ferry
