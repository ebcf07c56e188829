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
  register_compose_rules(registry);
  register_complex_rules(registry);
  register_trig_rules(registry);
  register_unary_math_rules(registry);
  register_activation_extra_rules(registry);
  register_remainder_rules(registry);
  register_statistics_rules(registry);
  register_scan_rules(registry);
  register_reorder_rules(registry);
  register_gather_rules(registry);
  register_scatter_rules(registry);
  register_sort_rules(registry);
  register_embedding_bag_rules(registry);
  register_pad_rules(registry);
  register_group_norm_rules(registry);
  register_rms_norm_rules(registry);
  register_local_response_norm_rules(registry);
  register_grid_sample_rules(registry);
  register_control_flow_rules(registry);
  register_quantized_rules(registry);
}

}  // namespace ferry
