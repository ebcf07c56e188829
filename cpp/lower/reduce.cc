#include "lower/rules.h"

namespace ferry {

void register_reduce_rules(Registry& registry) {}

}  // namespace ferry
