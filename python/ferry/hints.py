"""Layout hints a model can call: identity in PyTorch, an order constraint in the converter.

They are plain `@traceable` identities, as in nobuco: the tracer gives a traceable's output a
value of its own even when it hands back its argument, so the hint stays a node.
"""

from __future__ import annotations

from typing import TypeVar

from ferry.trace import traceable

T = TypeVar("T")


@traceable
def force_tensorflow_order(inputs: T) -> T:
    """Asks the converter to keep this tensor channels-last (TensorFlow order) from here."""
    return inputs


@traceable
def force_pytorch_order(inputs: T) -> T:
    """Asks the converter to keep this tensor in PyTorch order (channels first) from here."""
    return inputs
