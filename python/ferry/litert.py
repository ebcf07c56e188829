"""Running `.tflite` files in LiteRT: what validation, calibration and users share."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def interpreter(source: bytes | str, preserve: bool = False) -> Any:
    """A LiteRT interpreter over a file's bytes or path. `preserve` keeps every intermediate
    tensor readable, which also runs the builtin kernels without the default delegates."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs: dict[str, Any] = {"experimental_preserve_all_tensors": preserve}
    with warnings.catch_warnings():
        # Preserving every tensor is what a per-node check needs; LiteRT warns about the
        # memory it costs, which is the activations', small next to the weights.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        if isinstance(source, str):
            return Interpreter(model_path=source, **kwargs)
        return Interpreter(model_content=source, **kwargs)


def quantized(detail: dict[str, Any]) -> tuple[float, int] | None:
    """(scale, zero point) of an integer tensor holding quantized reals, else None."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if scale == 0.0 or np.dtype(detail["dtype"]).kind == "f":
        return None
    return float(scale), int(zero_point)


def to_tensor(detail: dict[str, Any], array: Any) -> np.ndarray:
    """`array` as the input tensor takes it: real values quantized where the tensor is."""
    array = np.asarray(array)
    params = quantized(detail)
    if params is not None and array.dtype.kind == "f":
        scale, zero_point = params
        info = np.iinfo(detail["dtype"])
        q = np.rint(array.astype(np.float64) / scale) + zero_point
        return np.clip(q, info.min, info.max).astype(detail["dtype"])
    return np.asarray(array, dtype=detail["dtype"], order="C")


def to_real(detail: dict[str, Any], array: np.ndarray) -> np.ndarray:
    """A quantized tensor's real values (float32); any other as it is."""
    params = quantized(detail)
    if params is None:
        return array
    scale, zero_point = params
    return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)


def run_tflite(
    model: bytes | str, inputs: list[np.ndarray], dequantize: bool = False
) -> list[np.ndarray]:
    """Runs a `.tflite` model (bytes or a path) in LiteRT with its default delegates
    (XNNPACK) on inputs in subgraph order; an input with free sizes is resized to its array
    (a fixed one refuses another shape). Float arrays given for a quantized input (an int8
    model's `io_dtype="int8"` / `"uint8"`) are quantized with its scale; with `dequantize`,
    quantized outputs come back as real values."""
    runner = interpreter(model)
    for detail, array in zip(runner.get_input_details(), inputs):
        free = any(int(d) < 0 for d in detail["shape_signature"])
        if free and tuple(np.shape(array)) != tuple(detail["shape"]):
            runner.resize_tensor_input(detail["index"], list(np.shape(array)), strict=True)
    runner.allocate_tensors()
    for detail, array in zip(runner.get_input_details(), inputs):
        runner.set_tensor(detail["index"], to_tensor(detail, array))
    runner.invoke()
    out = []
    for detail in runner.get_output_details():
        array = np.array(runner.get_tensor(detail["index"]))
        out.append(to_real(detail, array) if dequantize else array)
    return out
