// Moving blocks of pixels into channels and back. TensorFlow's space_to_depth and
// depth_to_space (which ferry.addons.SpaceToDepth / DepthToSpace compute in PyTorch) and
// PyTorch's pixel_unshuffle / pixel_shuffle move the same values, but number the channels of
// the deep side differently (r = block size, C = channels of the shallow side):
//   TensorFlow: (dy * r + dx) * C + c        PyTorch: c * r * r + dy * r + dx
// So pixel_unshuffle is space_to_depth followed by a fixed channel interleave, and
// pixel_shuffle is the inverse interleave followed by depth_to_space. The interleave is a
// reshape -> transpose -> reshape of the channels-last tensor; next to a convolution the
// cleanup folds it into the weights (passes/channel_permutation.cc), so none is left.
#include <string>

#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

enum class Direction { kToDepth, kToSpace };

struct Request {
  Direction direction;
  bool pytorch_channels;  // pixel_(un)shuffle's channel order rather than TensorFlow's
  std::string block_attr;
  std::string name;  // for messages
};

Value* transpose(LowerContext& ctx, Value* x, std::vector<int64_t> perm) {
  Shape shape;
  for (int64_t axis : perm) shape.push_back(x->shape[axis]);
  Attrs attrs;
  attrs.set("perm", std::move(perm));
  return ctx.emit("transpose", {x}, std::move(attrs), x->dtype, std::move(shape));
}

// x [N, a*b, H, W] with channel i*b + j moved to j*a + i. Written for the channels-last
// tensor ([N, H, W, a*b] -> [N*H*W, a, b] -> [N*H*W, b, a] -> [N, H, W, b*a]), where the
// transposes into and out of it are free, and at rank 3 (TRANSPOSE at rank 5 needs a newer
// runtime and fails on GPU delegates).
Value* interleave(LowerContext& ctx, Value* x, int64_t a, int64_t b) {
  if (a == 1 || b == 1) return x;  // nothing moves
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
  Value* t = transpose(ctx, x, {0, 2, 3, 1});
  t = emit_reshape(ctx, t, {n * h * w, a, b});
  t = transpose(ctx, t, {0, 2, 1});
  t = emit_reshape(ctx, t, {n, h, w, c});
  return transpose(ctx, t, {0, 3, 1, 2});
}

void lower_space_depth(LowerContext& ctx, const Request& req) {
  Value* x = ctx.in(self_arg(ctx));
  const int64_t r = ctx.attrs().get_int(req.block_attr);
  if (r < 1) throw LowerError(req.name + ": the block size must be positive");
  if (x->rank() < 3) {
    throw LowerError(req.name + " expects a tensor of [*, C, H, W], got rank " +
                     std::to_string(x->rank()));
  }
  const Shape& out_shape = ctx.torch_output().shape;
  if (r == 1) {  // every value stays where it is
    ctx.emit_output("identity", {x});
    return;
  }
  // Leading dims are one batch: [N, C, H, W], N = 1 for an unbatched [C, H, W].
  const size_t rank = x->rank();
  int64_t batch = 1;
  for (size_t i = 0; i + 3 < rank; ++i) batch *= x->shape[i];
  const int64_t c = x->shape[rank - 3], h = x->shape[rank - 2], w = x->shape[rank - 1];
  if (rank != 4) x = emit_reshape(ctx, x, {batch, c, h, w});

  Attrs attrs;
  attrs.set("block_size", r);
  Value* y = nullptr;
  if (req.direction == Direction::kToDepth) {
    if (h % r != 0 || w % r != 0) {
      throw LowerError(req.name + ": height " + std::to_string(h) + " and width " +
                       std::to_string(w) + " are not multiples of " + std::to_string(r));
    }
    y = ctx.emit("space_to_depth", {x}, std::move(attrs), x->dtype,
                 {batch, c * r * r, h / r, w / r});
    if (req.pytorch_channels) y = interleave(ctx, y, r * r, c);
  } else {
    if (c % (r * r) != 0) {
      throw LowerError(req.name + ": " + std::to_string(c) + " channels are not a multiple of " +
                       std::to_string(r * r));
    }
    if (req.pytorch_channels) x = interleave(ctx, x, c / (r * r), r * r);
    y = ctx.emit("depth_to_space", {x}, std::move(attrs), x->dtype,
                 {batch, c / (r * r), h * r, w * r});
  }
  if (y->shape != out_shape) y = emit_reshape(ctx, y, out_shape);
  ctx.set_output(0, y);
}

void add(Registry& registry, std::vector<std::string> ops, Request req, std::string mapping) {
  registry.add({std::move(ops), [req](LowerContext& ctx) { lower_space_depth(ctx, req); },
                std::move(mapping)});
}

}  // namespace

void register_space_depth_rules(Registry& registry) {
  add(registry, {"ferry.addons.torch.space_to_depth.SpaceToDepth"},
      {Direction::kToDepth, false, "block_size", "SpaceToDepth"}, "space_to_depth");
  add(registry, {"ferry.addons.torch.depth_to_space.DepthToSpace"},
      {Direction::kToSpace, false, "block_size", "DepthToSpace"}, "depth_to_space");
  // nn.PixelUnshuffle and nn.PixelShuffle keep the factor under the name of the function's
  // argument, so one rule serves the module, the function and the aten op.
  const std::string interleave = " + a channel interleave, unless a conv beside it takes it";
  add(registry,
      {"torch.nn.modules.pixelshuffle.PixelUnshuffle", "torch.nn.functional.pixel_unshuffle",
       "torch.pixel_unshuffle", "aten.pixel_unshuffle.default"},
      {Direction::kToDepth, true, "downscale_factor", "pixel_unshuffle"},
      "space_to_depth" + interleave);
  add(registry,
      {"torch.nn.modules.pixelshuffle.PixelShuffle", "torch.nn.functional.pixel_shuffle",
       "torch.pixel_shuffle", "aten.pixel_shuffle.default"},
      {Direction::kToSpace, true, "upscale_factor", "pixel_shuffle"},
      "depth_to_space" + interleave);
}

}  // namespace ferry
