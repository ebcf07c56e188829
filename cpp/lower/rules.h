#pragma once

#include "lower/registry.h"

namespace ferry {

// One function per op family, each in cpp/lower/<family>.cc. register_all lists them all;
// adding a family means adding one line there.
void register_activation_rules(Registry& registry);
void register_elementwise_rules(Registry& registry);
void register_conv_rules(Registry& registry);
void register_linear_rules(Registry& registry);
void register_norm_rules(Registry& registry);
void register_pool_rules(Registry& registry);
void register_shape_rules(Registry& registry);
void register_index_rules(Registry& registry);
void register_split_rules(Registry& registry);
void register_reduce_rules(Registry& registry);
void register_user_rules(Registry& registry);
void register_quantized_rules(Registry& registry);
void register_resize_rules(Registry& registry);
void register_misc_rules(Registry& registry);
void register_inplace_rules(Registry& registry);
void register_rnn_rules(Registry& registry);
void register_attention_rules(Registry& registry);
void register_space_depth_rules(Registry& registry);
void register_compose_rules(Registry& registry);
void register_complex_rules(Registry& registry);
void register_trig_rules(Registry& registry);
void register_unary_math_rules(Registry& registry);
void register_activation_extra_rules(Registry& registry);
void register_remainder_rules(Registry& registry);
void register_statistics_rules(Registry& registry);
void register_scan_rules(Registry& registry);
void register_reorder_rules(Registry& registry);
void register_gather_rules(Registry& registry);
void register_scatter_rules(Registry& registry);
void register_sort_rules(Registry& registry);
void register_embedding_bag_rules(Registry& registry);
void register_pad_rules(Registry& registry);
void register_group_norm_rules(Registry& registry);
void register_rms_norm_rules(Registry& registry);
void register_local_response_norm_rules(Registry& registry);
void register_grid_sample_rules(Registry& registry);
void register_control_flow_rules(Registry& registry);

void register_all(Registry& registry);

}  // namespace ferry
