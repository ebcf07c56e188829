"""PyTorch implementations of TensorFlow ops (the modules of `ferry.addons`)."""

from __future__ import annotations

from ferry.addons.torch.depth_to_space import DepthToSpace
from ferry.addons.torch.space_to_depth import SpaceToDepth

__all__ = ["DepthToSpace", "SpaceToDepth"]
