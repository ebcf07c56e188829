"""Layout hints a model can call: identity in PyTorch, an order constraint in the converter."""

from __future__ import annotations

from typing import TypeVar

import torch

from ferry.trace import traceable

T = TypeVar("T")


def _alias(inputs: T) -> T:
    """The same values as a new tensor object (a view, no copy).

    A trace gives each tensor object one SSA value: had a hint returned its very argument, its
    output would be its input's value, no later call would read the hint's result, and the
    hint was dropped as unused (the order constraint silently ignored)."""
    if isinstance(inputs, torch.Tensor):
        return inputs.view_as(inputs)  # type: ignore[return-value]
    return inputs


@traceable
def force_tensorflow_order(inputs: T) -> T:
    """Asks the converter to keep this tensor channels-last (TensorFlow order) from here."""
    return _alias(inputs)


@traceable
def force_pytorch_order(inputs: T) -> T:
    """Asks the converter to keep this tensor in PyTorch order (channels first) from here."""
    return _alias(inputs)
