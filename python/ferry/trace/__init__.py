"""Eager tracing of PyTorch models into a tree of calls with SSA tensor values."""

from .model import (
    NodeKind,
    SourceLocation,
    TensorRef,
    Trace,
    TraceNode,
    TraceValue,
    ValueKind,
    iter_refs,
)
from .tracer import SUPPORTED_DTYPES, trace_module, traceable

__all__ = [
    "SUPPORTED_DTYPES",
    "NodeKind",
    "SourceLocation",
    "TensorRef",
    "Trace",
    "TraceNode",
    "TraceValue",
    "ValueKind",
    "iter_refs",
    "trace_module",
    "traceable",
]
