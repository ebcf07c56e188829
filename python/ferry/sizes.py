"""`ferry.shape`: nobuco's way to say "this size may change"."""

from __future__ import annotations

from typing import Any

import torch


def shape(x: torch.Tensor) -> tuple[Any, ...]:
    """The sizes of `x`, for code that computes with them (`x[:, :, h // 3:]`).

    With free input dims (None in `input_shapes`, or `dynamic_dims`) Ferry traces the model on
    symbolic sizes, so every size computed from them (this one, `x.shape`, `x.size(d)`) is
    followed into the converted model as run-time arithmetic; with fixed dims they are the
    traced ints. nobuco returns 0-d int tensors here; Ferry returns the sizes as PyTorch does
    (ints), which slicing, view/reshape, arange and arithmetic take alike.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"ferry.shape takes a tensor, got {type(x).__name__}")
    return tuple(x.shape)
