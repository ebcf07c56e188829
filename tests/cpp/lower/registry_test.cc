#include "lower/registry.h"

#include <gtest/gtest.h>

#include <string>

#include "lower/rules.h"

namespace ferry {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(RegistryTest, AddRecordsTheCallersLineForEveryAlias) {
  Registry registry;
  registry.add({{"torch.example", "aten.example.default"}, [](LowerContext&) {}, "identity"});
  const unsigned line = __LINE__ - 1;
  for (const char* op : {"torch.example", "aten.example.default"}) {
    const Rule* rule = registry.find(op);
    ASSERT_NE(rule, nullptr) << op;
    EXPECT_EQ(rule->where.line(), line) << op;
    EXPECT_TRUE(ends_with(rule->where.file_name(), "registry_test.cc")) << rule->where.file_name();
  }
}

TEST(RegistryTest, RelativePathIsTakenFromTheSourceRoot) {
  Registry registry;
  registry.add({{"torch.example"}, [](LowerContext&) {}, "identity"});
  EXPECT_EQ(source_relative_path(registry.find("torch.example")->where.file_name()),
            "tests/cpp/lower/registry_test.cc");
  EXPECT_EQ(source_relative_path("/elsewhere/file.cc"), "/elsewhere/file.cc");
}

TEST(RegistryTest, EveryBuiltInRuleWasRegisteredInALoweringFile) {
  Registry registry;
  register_all(registry);
  ASSERT_GT(registry.ops().size(), 100u);
  for (const std::string& op : registry.ops()) {
    const Rule* rule = registry.find(op);
    const std::string relative = source_relative_path(rule->where.file_name());
    EXPECT_EQ(relative.rfind("cpp/lower/", 0), 0u) << op << " registered in " << relative;
    EXPECT_TRUE(ends_with(relative, ".cc")) << op << " registered in " << relative;
    EXPECT_GT(rule->where.line(), 0u) << op;
  }
}

}  // namespace
}  // namespace ferry
