#include "lower/rules.h"

namespace ferry {

void register_pool_rules(Registry& registry) {}

}  // namespace ferry
