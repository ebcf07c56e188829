#include "lower/rules.h"

namespace ferry {

void register_norm_rules(Registry& registry) {}

}  // namespace ferry
