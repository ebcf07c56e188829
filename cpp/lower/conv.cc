#include "lower/rules.h"

namespace ferry {

void register_conv_rules(Registry& registry) {}

}  // namespace ferry
