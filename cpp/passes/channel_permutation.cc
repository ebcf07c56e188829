// A fixed permutation of the channels next to a convolution or dense layer costs nothing once
// it is moved into the layer's constant weights (σ: u[..., j] = x[..., σ[j]]):
//   layer(permute(x, σ), K)        -> layer(x, K with input channel σ[j] taking j's weights)
//   permute(layer(x, K, b), σ)     -> layer(x, K and b with output channel j taking σ[j]'s)
// After layout such a permutation is a reshape -> transpose -> reshape that only reorders the
// split last axis: the channel interleave of pixel_shuffle and pixel_unshuffle
// (lower/space_depth.cc), or a user's channel shuffle. Layers qualify when their channels are
// the physical last axis: conv with groups = 1 on a channels-last input, and dense. Between
// the two there may be nodes that treat every channel alike (activations, batch norm over the
// channels, pooling, padding of other axes): the permutation passes through them, their
// per-channel constants reordered.
#include <algorithm>
#include <optional>

#include "layout/op_layout.h"
#include "passes/passes.h"

namespace ferry {
namespace {

struct ChannelPermutation {
  Value* source = nullptr;
  std::vector<int64_t> sigma;  // result channel j holds source channel sigma[j]
};

bool sole_internal_use(const Graph& graph, const Value* v) {
  if (v->users.size() != 1) return false;
  for (const Value* o : graph.outputs)
    if (o == v) return false;
  return true;
}

// The permutation of the last axis that produces `u` from the input of the reshape ->
// transpose -> reshape chain ending in it, or nullopt when `u` is not made that way.
std::optional<ChannelPermutation> channel_permutation(Value* u) {
  Node* last = u->producer;
  if (!last || last->op != "reshape") return std::nullopt;
  Node* tr = last->inputs[0]->producer;
  if (!tr || tr->op != "transpose") return std::nullopt;
  Node* first = tr->inputs[0]->producer;
  if (!first || first->op != "reshape") return std::nullopt;
  Value* x = first->inputs[0];
  const Shape shape = x->physical_shape();
  if (shape.empty() || shape != u->physical_shape() || x->dtype != u->dtype) return std::nullopt;
  const int64_t channels = shape.back();
  const int64_t outer = channels > 0 ? num_elements(shape) / channels : 0;
  if (outer <= 0) return std::nullopt;

  // The split tensor: leading axes whose sizes multiply to `outer` stay in place, the rest
  // multiply to the channels and are permuted among themselves.
  const Shape split = tr->inputs[0]->physical_shape();
  const std::vector<int64_t> perm = tr->attrs.get_ints("perm");
  size_t lead = 0;
  for (int64_t size = 1; size != outer;) {
    if (lead == split.size() || size > outer) return std::nullopt;
    size *= split[lead++];
  }
  for (size_t i = 0; i < lead; ++i)
    if (perm[i] != static_cast<int64_t>(i)) return std::nullopt;

  // Result channel j, as an index into the transposed axes, read from the split ones.
  const size_t rank = split.size();
  std::vector<int64_t> strides(rank, 1);
  for (size_t i = rank; i-- > lead + 1;) strides[i - 1] = strides[i] * split[i];
  ChannelPermutation p{x, std::vector<int64_t>(channels)};
  for (int64_t j = 0; j < channels; ++j) {
    int64_t rest = j, source = 0;
    for (size_t i = rank; i-- > lead;) {
      const int64_t size = split[perm[i]];
      source += (rest % size) * strides[perm[i]];
      rest /= size;
    }
    p.sigma[j] = source;
  }
  return p;
}

// out[..., i, ...] = t[..., index[i], ...] along `axis`, for any element type.
std::shared_ptr<TensorData> gather_axis(const TensorData& t, size_t axis,
                                        const std::vector<int64_t>& index) {
  const Shape& shape = t.shape();
  int64_t outer = 1, inner = static_cast<int64_t>(dtype_size(t.dtype()));
  for (size_t i = 0; i < axis; ++i) outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  // A lazy permutation (a conv kernel in HWIO) is computed into a temporary rather than
  // cached beside the parameter it is read from.
  std::vector<std::byte> computed;
  const std::byte* src = nullptr;
  if (t.permute_source()) {
    std::vector<int64_t> identity(shape.size());
    for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int64_t>(i);
    computed.resize(t.nbytes());
    t.permute_into(identity, computed.data());
    src = computed.data();
  } else {
    src = t.bytes();
  }
  auto out = std::make_shared<TensorData>(t.dtype(), shape);
  std::byte* dst = out->mutable_bytes();
  const int64_t n = shape[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(src + (o * n + index[i]) * inner, inner, dst + (o * n + i) * inner);
  return out;
}

// A copy of constant input `index` of `node` with `axis` reordered, in place of the original
// (which other nodes may share).
void permute_constant(Graph& graph, Node* node, size_t index, size_t axis,
                      const std::vector<int64_t>& order) {
  Value* old = node->inputs[index];
  if (!old) return;
  Value* permuted = graph.add_constant(gather_axis(*old->constant, axis, order), old->name);
  permuted->layout = old->layout;
  graph.set_input(node, index, permuted);
}

bool is_constant_vector(const Value* v, int64_t size) {
  return v && v->is_constant() && v->rank() == 1 && v->shape[0] == size;
}

// The axes of the weights that meet the channels: (input axis, output axis) of the kernel,
// or nullopt for a node whose weights cannot absorb a channel permutation.
std::optional<std::pair<size_t, size_t>> kernel_axes(const Node* node) {
  if (node->inputs.size() < 2 || !node->inputs[1] || !node->inputs[1]->is_constant())
    return std::nullopt;
  const size_t rank = node->inputs[1]->rank();
  if (node->op == "dense" && rank == 2) return std::make_pair(size_t{0}, size_t{1});
  if (node->op != "conv" || rank < 3) return std::nullopt;
  if (node->attrs.has("groups") && node->attrs.get_int("groups") != 1) return std::nullopt;
  // Channels are last only once layout has run (which makes every conv output channels-last).
  if (node->outputs[0]->layout != Layout::kChannelsLast) return std::nullopt;
  return std::make_pair(rank - 2, rank - 1);  // [*k, in, out]
}

// Whether `node` treats every channel (physical last axis) of its data input alike, so that
// it commutes with a permutation of them; `params` gets its per-channel constant inputs,
// which move with the channels.
bool is_channelwise(const Node* node, int64_t channels, std::vector<size_t>& params) {
  params.clear();
  if (node->outputs.size() != 1 || node->inputs.empty() || !node->inputs[0]) return false;
  const Value* x = node->inputs[0];
  const Shape shape = x->physical_shape();
  if (shape.empty() || shape.back() != channels ||
      node->outputs[0]->physical_shape().back() != channels)
    return false;
  const int64_t last = static_cast<int64_t>(shape.size()) - 1;
  if (node->op == "pad") {
    const auto pads = node->attrs.get_ints("pads");
    return pads.size() == 2 * shape.size() && pads[2 * last] == 0 && pads[2 * last + 1] == 0;
  }
  if (node->op == "max_pool" || node->op == "avg_pool")
    return node->outputs[0]->layout == Layout::kChannelsLast;
  if (node->op == "batch_norm") {
    const int64_t axis = node->attrs.get_int("axis");
    if (axis != last && axis != -1) return false;
    for (size_t i = 1; i <= 4; ++i) {
      if (!is_constant_vector(node->inputs[i], channels)) return false;
      params.push_back(i);
    }
    return true;
  }
  // Unary elementwise ops (a user converter may do anything, whatever its strategy says).
  return node->inputs.size() == 1 && node->op != "user" &&
         op_layout(*node).cls == LayoutClass::kElementwise;
}

std::vector<int64_t> inverse(const std::vector<int64_t>& sigma) {
  std::vector<int64_t> inv(sigma.size());
  for (size_t j = 0; j < sigma.size(); ++j) inv[sigma[j]] = static_cast<int64_t>(j);
  return inv;
}

// Moves the permutation across the channel-wise nodes of `path` (their per-channel constants
// reordered by `order`). Their outputs then hold permuted channels: no longer the PyTorch
// values they reproduced.
void permute_path(Graph& graph, const std::vector<Node*>& path, int64_t channels,
                  const std::vector<int64_t>& order) {
  std::vector<size_t> params;
  for (Node* node : path) {
    is_channelwise(node, channels, params);
    for (size_t i : params) permute_constant(graph, node, i, 0, order);
    node->outputs[0]->origin = -1;
  }
}

// layer(f(permute(x, σ))) -> layer(f'(x)), f channel-wise: input channel σ[j] of the layer
// takes the weights of j.
bool fold_into_reader(Graph& graph, Node* layer) {
  auto axes = kernel_axes(layer);
  if (!axes) return false;
  const int64_t channels = layer->inputs[1]->physical_shape()[axes->first];
  std::vector<Node*> path;  // channel-wise nodes between the permutation and the layer
  std::vector<size_t> params;
  Value* v = layer->inputs[0];
  while (v->producer && sole_internal_use(graph, v) &&
         is_channelwise(v->producer, channels, params)) {
    path.insert(path.begin(), v->producer);
    v = v->producer->inputs[0];
  }
  auto p = channel_permutation(v);
  if (!p || channels != static_cast<int64_t>(p->sigma.size())) return false;
  const std::vector<int64_t> inv = inverse(p->sigma);
  permute_path(graph, path, channels, inv);
  permute_constant(graph, layer, 1, axes->first, inv);
  graph.set_input(path.empty() ? layer : path.front(), 0, p->source);
  return true;
}

// permute(f(layer(x)), σ) -> f'(layer(x)), f channel-wise: output channel j of the layer takes
// the weights and bias of σ[j].
bool fold_into_writer(Graph& graph, Node* layer) {
  auto axes = kernel_axes(layer);
  if (!axes) return false;
  const int64_t channels = layer->inputs[1]->physical_shape()[axes->second];
  Value* bias = layer->inputs.size() > 2 ? layer->inputs[2] : nullptr;
  if (bias && !is_constant_vector(bias, channels)) return false;
  std::vector<Node*> path;  // channel-wise nodes between the layer and the permutation
  std::vector<size_t> params;
  Value* y = layer->outputs[0];
  while (sole_internal_use(graph, y) && y->users[0]->inputs[0] == y &&
         is_channelwise(y->users[0], channels, params)) {
    path.push_back(y->users[0]);
    y = path.back()->outputs[0];
  }
  // y -> reshape -> transpose -> reshape -> u, every step its predecessor's only use.
  Value* u = y;
  for (const char* op : {"reshape", "transpose", "reshape"}) {
    if (!sole_internal_use(graph, u) || u->users[0]->op != op) return false;
    u = u->users[0]->outputs[0];
  }
  for (const Value* o : graph.outputs)
    if (o == u) return false;  // keeps the model output's own order and name
  auto p = channel_permutation(u);
  if (!p || p->source != y || channels != static_cast<int64_t>(p->sigma.size())) return false;
  permute_constant(graph, layer, 1, axes->second, p->sigma);
  if (bias) permute_constant(graph, layer, 2, 0, p->sigma);
  layer->outputs[0]->origin = -1;
  permute_path(graph, path, channels, p->sigma);
  // y now holds what u held, so it reproduces u's PyTorch value, if any (validation reads it
  // in the value's own logical order).
  y->origin = y->shape == u->shape && y->layout == u->layout ? u->origin : -1;
  graph.replace_all_uses(u, y);
  return true;
}

}  // namespace

bool fold_channel_permutations(Graph& graph) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->op != "conv" && node->op != "dense") continue;
    changed |= fold_into_reader(graph, node);
    changed |= fold_into_writer(graph, node);
  }
  return changed;
}

}  // namespace ferry
