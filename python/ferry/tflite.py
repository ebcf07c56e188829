"""pytorch_to_tflite: trace, convert and write `.tflite` in the C++ core, validate in LiteRT.

Needs neither TensorFlow nor Keras: this module imports only the tracer, the core bridge
and (for validation) ai-edge-litert.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ferry.api import OrderSpec, conversion_error, convert_trace, unsupported_error
from ferry.converters import ChannelOrder
from ferry.errors import ConversionError, ValidationError
from ferry.validate.compare import differences, model_inputs, torch_as_tf


def _write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """A temporary file beside the target, renamed over it: readers never see half a model,
    and a failure leaves nothing behind."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_tflite(model_bytes: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Runs a `.tflite` model in LiteRT (default delegates: XNNPACK) on inputs in subgraph order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(array, dtype=detail["dtype"]))
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def _validate(model_bytes: bytes, trace: Any, graph: Any, tolerance: float) -> list[float]:
    actual = run_tflite(model_bytes, model_inputs(trace, graph))
    diffs = []
    for vid, got in zip(graph.outputs, actual):
        value = graph.values[vid]
        expected = torch_as_tf(trace.values[value.origin].data, value.perm)
        max_abs, _ = differences(expected, got)
        finite = np.abs(expected[np.isfinite(expected)]) if expected.size else expected
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        if not max_abs <= tolerance * scale:
            raise ValidationError(
                f"ferry: LiteRT output {len(diffs)} differs from PyTorch by {max_abs:.3g} "
                f"(tolerance {tolerance:g} x {scale:.3g}); nothing was written"
            )
        diffs.append(max_abs)
    return diffs


def pytorch_to_tflite(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    validate: bool = True,
    validation_tolerance: float = 1e-4,
) -> bytes:
    """Converts a PyTorch module into a `.tflite` flatbuffer, written by Ferry's C++ core.

    Returns the bytes and, when `path` is given, writes them there atomically. With
    `validate`, the model runs once in LiteRT on the traced inputs and each output must be
    within `validation_tolerance` x max(1, largest PyTorch magnitude) of PyTorch's, or
    ValidationError is raised (and nothing written).
    """
    trace, result = convert_trace(
        model,
        args,
        kwargs,
        None,
        inputs_channel_order,
        outputs_channel_order,
        input_names,
        output_names,
        None,
        tflite=True,
    )
    if result.unsupported:
        raise unsupported_error(trace, result)
    if result.errors:
        raise conversion_error(trace, result)
    if result.tflite is None:
        raise ConversionError(f"ferry: {result.tflite_error}; nothing was written")
    data = result.tflite
    if validate:
        _validate(data, trace, result.graph, validation_tolerance)
    if path is not None:
        _write_atomically(path, data)
    return data
