"""`tf.nn.depth_to_space` as a PyTorch module, on channels-first tensors."""

from __future__ import annotations

import torch
from torch import nn


class DepthToSpace(nn.Module):
    """Spreads groups of channels over `block_size` x `block_size` patches, in TensorFlow's order.

    For an input `[*, C * r * r, H, W]` (r = block_size) the output is `[*, C, H * r, W * r]`
    with `out[..., c, h * r + dy, w * r + dx] = x[..., (dy * r + dx) * C + c, h, w]`: what
    `tf.nn.depth_to_space` computes on the channels-last tensor. `F.pixel_shuffle` reads
    channel `c * r * r + dy * r + dx` instead. Ferry converts this module to one
    DEPTH_TO_SPACE.
    """

    def __init__(self, block_size: int) -> None:
        super().__init__()
        if block_size < 2:  # as tf.nn.depth_to_space requires
            raise ValueError(f"DepthToSpace: block_size must be at least 2, got {block_size}")
        self.block_size = int(block_size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        r = self.block_size
        if input.dim() < 3:
            raise ValueError(f"DepthToSpace expects [*, C, H, W], got {list(input.shape)}")
        *batch, depth, h, w = input.shape
        if depth % (r * r):
            raise ValueError(f"DepthToSpace({r}): {depth} channels are not a multiple of {r * r}")
        c = depth // (r * r)
        blocks = input.reshape(-1, r, r, c, h, w)  # n, dy, dx, c, h, w
        out = blocks.permute(0, 3, 4, 1, 5, 2)  # n, c, h, dy, w, dx
        return out.reshape(*batch, c, h * r, w * r)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}"
