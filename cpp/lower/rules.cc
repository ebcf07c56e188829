#include "lower/rules.h"

namespace ferry {

void register_all(Registry& registry) {
  register_activation_rules(registry);
  register_elementwise_rules(registry);
  register_conv_rules(registry);
  register_linear_rules(registry);
  register_norm_rules(registry);
  register_pool_rules(registry);
  register_shape_rules(registry);
  register_index_rules(registry);
  register_split_rules(registry);
  register_reduce_rules(registry);
  register_user_rules(registry);
  register_resize_rules(registry);
  register_misc_rules(registry);
  register_inplace_rules(registry);
  register_rnn_rules(registry);
  register_attention_rules(registry);
  register_space_depth_rules(registry);
  register_grid_sample_rules(registry);
}

}  // namespace ferry
