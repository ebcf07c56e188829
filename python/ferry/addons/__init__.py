"""PyTorch modules whose TensorFlow counterparts are single ops.

`SpaceToDepth` and `DepthToSpace` compute exactly what `tf.nn.space_to_depth` and
`tf.nn.depth_to_space` compute, on NCHW tensors. A model written with them converts to one
SPACE_TO_DEPTH / DEPTH_TO_SPACE each, with no channel reordering around it; PyTorch's
`pixel_unshuffle` / `pixel_shuffle` order their channels differently from TensorFlow's ops.
The modules live at nobuco's import paths too (`ferry.addons.torch.space_to_depth`, ...).
"""

from __future__ import annotations

from ferry.addons.torch.depth_to_space import DepthToSpace
from ferry.addons.torch.space_to_depth import SpaceToDepth

__all__ = ["DepthToSpace", "SpaceToDepth"]
