"""Running converted models at sizes other than the traced one."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter

import ferry


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def run_resized(data: bytes, *inputs: np.ndarray) -> np.ndarray:
    """The first output of the .tflite with its inputs resized to these arrays' shapes."""
    interpreter = Interpreter(model_content=bytes(data))
    details = interpreter.get_input_details()
    for detail, x in zip(details, inputs):
        interpreter.resize_tensor_input(detail["index"], list(x.shape), strict=True)
    interpreter.allocate_tensors()
    for detail, x in zip(details, inputs):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def convert_both(
    model: torch.nn.Module, inputs: list[torch.Tensor], **options: Any
) -> tuple[bytes, Any, collections.Counter]:
    """The .tflite file, the Keras model and the file's operator counts."""
    data = bytes(ferry.pytorch_to_tflite(model, inputs, **options))
    keras_model = ferry.pytorch_to_keras(model, inputs, **options)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(data)["ops"])
    return data, keras_model, ops


def check_at_sizes(
    model: torch.nn.Module,
    x: torch.Tensor,
    free: tuple[int | None, ...],
    sizes: list[tuple[int, ...]],
    channels_last: bool = True,
) -> None:
    """Converts to both back ends with `free` (None at the free dims) and has each run at
    `sizes` against PyTorch (validate_shapes: a size beyond tolerance raises)."""
    order = ferry.ChannelOrder.TENSORFLOW if channels_last else ferry.ChannelOrder.PYTORCH
    options: dict[str, Any] = {
        "input_shapes": {x: free},
        "validate_shapes": sizes,
        "inputs_channel_order": order,
        "verbose": False,
    }
    ferry.pytorch_to_tflite(model, [x], **options)
    ferry.pytorch_to_keras(model, [x], **options)
