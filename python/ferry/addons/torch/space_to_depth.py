"""`tf.nn.space_to_depth` as a PyTorch module, on channels-first tensors."""

from __future__ import annotations

import torch
from torch import nn


class SpaceToDepth(nn.Module):
    """Moves each `block_size` x `block_size` patch into the channels, in TensorFlow's order.

    For an input `[*, C, H, W]` the output is `[*, C * r * r, H / r, W / r]` (r = block_size)
    with `out[..., (dy * r + dx) * C + c, h, w] = x[..., c, h * r + dy, w * r + dx]`: what
    `tf.nn.space_to_depth` computes on the channels-last tensor. `F.pixel_unshuffle` puts the
    same values at channel `c * r * r + dy * r + dx` instead. Ferry converts this module to one
    SPACE_TO_DEPTH.
    """

    def __init__(self, block_size: int) -> None:
        super().__init__()
        if block_size < 2:  # as tf.nn.space_to_depth requires
            raise ValueError(f"SpaceToDepth: block_size must be at least 2, got {block_size}")
        self.block_size = int(block_size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        r = self.block_size
        if input.dim() < 3:
            raise ValueError(f"SpaceToDepth expects [*, C, H, W], got {list(input.shape)}")
        *batch, c, h, w = input.shape
        if h % r or w % r:
            raise ValueError(
                f"SpaceToDepth({r}): height {h} and width {w} must be multiples of the block size"
            )
        blocks = input.reshape(-1, c, h // r, r, w // r, r)  # n, c, h, dy, w, dx
        out = blocks.permute(0, 3, 5, 1, 2, 4)  # n, dy, dx, c, h, w
        return out.reshape(*batch, r * r * c, h // r, w // r)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}"
