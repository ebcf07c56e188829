#include "lower/rules.h"

namespace ferry {

void register_linear_rules(Registry& registry) {}

}  // namespace ferry
