"""Complex tensors inside a model, handed to the core as their real view.

Neither Keras layers nor TFLite kernels carry complex tensors. A complex value travels as
`torch.view_as_real` of it: a float tensor with a trailing dim of 2 (real, imaginary). Aten
calls that read or make one become `ferry.complex.<name>` in the core, with the attribute
`complex` naming their complex arguments (cpp/lower/complex.cc); a torch-level call around
them is converted through those aten calls. A model may compute with complex tensors but not
return one: no converted model could hand it back.
"""

from __future__ import annotations

from typing import Any

import torch

from ferry.errors import ConversionError
from ferry.trace.model import NodeKind, TensorRef, Trace, TraceNode

_PARTS = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def is_complex(dtype: torch.dtype) -> bool:
    return dtype in _PARTS


def part_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of the real view of a complex dtype (the dtype itself otherwise)."""
    return _PARTS.get(dtype, dtype)


def real_shape(dtype: torch.dtype, shape: tuple[int, ...]) -> list[int]:
    return [*shape, 2] if is_complex(dtype) else list(shape)


def as_real(data: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(data.resolve_conj()) if data.is_complex() else data


def core_op(
    trace: Trace, node: TraceNode, op: str
) -> tuple[str, list[tuple[str, list[int], bool, Any]]]:
    """The core op for a call on complex values, and the extra argument naming them."""
    names = [
        "input" if name == "self" else name
        for name, value in node.args.items()
        if isinstance(value, TensorRef) and is_complex(trace.values[value.value].dtype)
    ]
    touches = names or any(is_complex(trace.values[r.value].dtype) for r in node.output_refs())
    if not touches:
        return op, []
    if node.kind != NodeKind.ATEN:
        return f"{node.op} (complex)", []  # no rule: converted through its aten calls
    _, name, overload = node.op.split(".", 2)
    return f"ferry.complex.{name}.{overload}", [("complex", [], False, ",".join(names))]


def refuse_complex_boundary(trace: Trace) -> None:
    """Complex tensors may live inside the model, not at its inputs or outputs."""
    for i, vid in enumerate(trace.inputs):
        value = trace.values[vid]
        if is_complex(value.dtype):
            name = trace.input_names[i] if i < len(trace.input_names) else f"input {i}"
            raise TypeError(
                f"ferry: the model input '{name}' is a complex tensor ({value.dtype}); neither "
                "Keras nor TFLite takes one: pass torch.view_as_real(x) and call "
                "torch.view_as_complex on it inside the model"
            )
    for i, ref in enumerate(trace.output_refs()):
        value = trace.values[ref.value]
        if is_complex(value.dtype):
            made_by = f" (made by {trace.nodes[value.producer].op})" if value.producer >= 0 else ""
            raise ConversionError(
                f"ferry: output {i} of the model is a complex tensor{made_by}; neither Keras nor "
                "TFLite can return one: return torch.view_as_real(x) (or x.real and x.imag) "
                "instead"
            )
