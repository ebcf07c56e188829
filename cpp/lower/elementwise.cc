#include "lower/rules.h"

namespace ferry {

void register_elementwise_rules(Registry& registry) {}

}  // namespace ferry
