#include "lower/rules.h"

namespace ferry {

void register_shape_rules(Registry& registry) {}

}  // namespace ferry
