"""The TF-level graph handed from the C++ core to the back ends (see docs/tf_ops.md).

These are plain Python mirrors of what the core returns, so a back end can be built and
tested on hand-made graphs without the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

AttrValue = None | bool | int | float | str | list[int] | list[float]


@dataclass
class TfValue:
    id: int
    dtype: str
    shape: list[int]
    perm: list[int]
    constant: np.ndarray | None = None
    name: str = ""
    origin: int = -1
    # A constant whose bytes stayed in the core (the .tflite path never reads them here).
    stored_constant: bool = False
    # Per physical dim: whether its size follows a free input dim (empty: all fixed).
    free: list[bool] = field(default_factory=list)

    @property
    def is_constant(self) -> bool:
        return self.constant is not None or self.stored_constant


@dataclass
class TfNode:
    id: int
    op: str
    inputs: list[int]
    outputs: list[int]
    attrs: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    origin: int = -1
    # Control flow: the functions the node runs, by role ("cond", "body"), each a graph whose
    # inputs bind the node's inputs in order.
    bodies: dict[str, TfGraph] = field(default_factory=dict)


@dataclass
class TfGraph:
    values: dict[int, TfValue]
    nodes: list[TfNode]
    inputs: list[int]
    outputs: list[int]
    input_names: list[str]
    output_names: list[str]

    def value(self, vid: int) -> TfValue:
        return self.values[vid]
