"""What a trace records: a tree of calls with SSA tensor values.

A `Trace` is produced by `ferry.trace.trace_module` and consumed by the bridge to the C++
core (`ferry.core_bridge`), by validation and by the report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import torch


class NodeKind(enum.Enum):
    MODULE = "module"  # an nn.Module call (forward hooks)
    FUNCTION = "function"  # a torch function, F.*, Tensor method, or @ferry.traceable function
    ATEN = "aten"  # an aten op seen by the dispatch mode


class ValueKind(enum.Enum):
    INPUT = "input"  # a graph input (a tensor passed in args/kwargs)
    CONSTANT = "constant"  # parameters, buffers and tensors from outside the traced call
    COMPUTED = "computed"  # produced by a traced node


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int
    function: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class TensorRef:
    """Stands for a tensor inside recorded arguments/outputs."""

    value: int  # id of a TraceValue


@dataclass
class TraceValue:
    """One SSA value: a tensor at one version. An in-place op yields a new TraceValue."""

    id: int
    kind: ValueKind
    dtype: torch.dtype
    shape: tuple[int, ...]
    data: torch.Tensor  # the recorded value (a snapshot if the tensor was mutated later)
    name: str = ""  # parameter/buffer name for constants, input name for inputs
    producer: int = -1  # id of the TraceNode that produced it (innermost), -1 if none
    # For a view op's output: the op's source value (-1 if not a view). Later versions of the
    # same view tensor (after in-place writes) keep it.
    view_of: int = -1
    previous: int = -1  # for a value made by an in-place write: the same tensor's value before
    # With free input dims: the shape with each size that follows them as a DimExpr (`shape`
    # keeps the traced sizes, the hints); None when every size is fixed.
    dims: tuple[Any, ...] | None = None


@dataclass
class TraceNode:
    id: int
    kind: NodeKind
    op: str  # canonical name, e.g. "torch.nn.functional.conv2d", "aten.convolution.default"
    target: Any  # the function / module instance / OpOverload that was called
    args: dict[str, Any]  # bound arguments by parameter name, tensors replaced by TensorRef
    outputs: Any  # output structure with tensors replaced by TensorRef
    raw_args: tuple[Any, ...] = ()  # positional arguments as they were passed (torch objects)
    raw_kwargs: dict[str, Any] = field(default_factory=dict)
    scope: str = ""  # module path of the enclosing module (of the module itself for MODULE)
    invoked: SourceLocation | None = None  # the user's line that made the call
    defined: SourceLocation | None = None  # where the function / module class is defined
    parent: int = -1
    children: list[int] = field(default_factory=list)
    mutated: list[int] = field(default_factory=list)  # TraceValue ids written in place
    # Writes through a view: (the view's value after the write, its base's value before it).
    # The base's value after the write is in `mutated` too (its `previous` is the base before).
    view_writes: list[tuple[int, int]] = field(default_factory=list)
    # With free input dims: the arguments that hold a free size (view's `size`, say).
    sym_args: list[str] = field(default_factory=list)
    # ... and those arguments as traced on free sizes: each size an int or a `DimExpr`
    # (symbolic.py), in the argument's own structure (slices of an index included).
    sym_values: dict[str, Any] = field(default_factory=dict)

    def input_refs(self) -> list[TensorRef]:
        return list(iter_refs(self.args))

    def output_refs(self) -> list[TensorRef]:
        return list(iter_refs(self.outputs))


@dataclass
class Trace:
    nodes: list[TraceNode]  # index == id, in call order (pre-order)
    values: list[TraceValue]  # index == id
    roots: list[int]  # top-level node ids (normally the root module's call)
    inputs: list[int]  # TraceValue ids of graph inputs, in order
    outputs: Any  # output structure of the model with TensorRef leaves
    input_names: list[str]
    output_names: list[str]
    symbols: list[Any] = field(default_factory=list)  # ferry.trace.symbolic.Symbol, in order

    def node(self, nid: int) -> TraceNode:
        return self.nodes[nid]

    def value(self, vid: int) -> TraceValue:
        return self.values[vid]

    def output_refs(self) -> list[TensorRef]:
        return list(iter_refs(self.outputs))


def iter_refs(obj: Any):
    """Yield TensorRefs in a nested structure of lists/tuples/dicts, in order."""
    if isinstance(obj, TensorRef):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from iter_refs(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_refs(item)
