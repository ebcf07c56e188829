"""Free sizes end to end: ops whose rules take free sizes convert once and run at other sizes,
in LiteRT (resized) and in Keras, against PyTorch on fresh inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ferry
from ferry.errors import ConversionError

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

TOLERANCE = 1e-5


class Elementwise(nn.Module):
    """Unary and binary elementwise ops, with a per-channel parameter broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.randn(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x) * self.scale + x.sigmoid()
        return nn.functional.gelu(y - torch.tanh(x)) * 0.5


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def run_resized(data: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=bytes(data))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], list(x.shape), strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


OTHER_SIZES = [(1, 3, 4, 9), (5, 3, 11, 2)]


@pytest.mark.parametrize(
    "declare",
    [
        lambda x: {"input_shapes": {x: (None, 3, None, None)}},
        lambda x: {"dynamic_dims": {"input_0": {0: "batch", 2: "height", -1: "width"}}},
    ],
    ids=["input_shapes", "dynamic_dims"],
)
def test_elementwise_model_runs_at_other_sizes_on_both_back_ends(declare):
    torch.manual_seed(0)
    model = Elementwise().eval()
    x = torch.randn(2, 3, 5, 7)
    data = ferry.pytorch_to_tflite(model, [x], verbose=False, **declare(x))
    detail = Interpreter(model_content=bytes(data)).get_input_details()[0]
    assert list(detail["shape"]) == [2, 5, 7, 3]  # the traced size, channels last
    assert list(detail["shape_signature"]) == [-1, -1, -1, 3]
    keras_model = ferry.pytorch_to_keras(model, [x], verbose=False, **declare(x))
    assert tuple(keras_model.inputs[0].shape) == (None, None, None, 3)
    for shape in OTHER_SIZES:
        fresh = torch.randn(shape)
        with torch.no_grad():
            expected = nhwc(model(fresh))
        got = run_resized(data, nhwc(fresh))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
        got = np.asarray(keras_model(nhwc(fresh)))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_static_conversion_has_no_shape_signature():
    model = Elementwise().eval()
    data = ferry.pytorch_to_tflite(model, [torch.randn(2, 3, 5, 7)], verbose=False)
    detail = Interpreter(model_content=bytes(data)).get_input_details()[0]
    assert list(detail["shape_signature"]) == list(detail["shape"])


class ThenPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(torch.relu(x), 2)


def test_the_first_op_that_cannot_take_a_free_size_is_named(tmp_path):
    x = torch.randn(2, 3, 8, 8)
    path = tmp_path / "m.tflite"
    with pytest.raises(ConversionError) as error:
        ferry.pytorch_to_tflite(
            ThenPool(), [x], input_shapes={x: (None, 3, 8, 8)}, path=path, verbose=False
        )
    message = str(error.value)
    assert "max_pool2d: cannot take a free size yet (dim 0 of 'input' is input_0_dim0)" in message
    assert "relu" not in message.split("max_pool2d")[0].splitlines()[-1]
    assert not path.exists()


class Broadcast(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + y.sigmoid()


def test_two_inputs_sharing_a_free_size_broadcast_at_other_sizes():
    model = Broadcast()
    x, y = torch.randn(2, 3, 5, 7), torch.randn(7)
    declared = {x: {0: "batch", 3: "width"}, y: {0: "width"}}
    data = ferry.pytorch_to_tflite(model, [x, y], dynamic_dims=declared, verbose=False)
    keras_model = ferry.pytorch_to_keras(model, [x, y], dynamic_dims=declared, verbose=False)
    interpreter = Interpreter(model_content=bytes(data))
    details = interpreter.get_input_details()
    assert [list(d["shape_signature"]) for d in details] == [[-1, 5, -1, 3], [-1]]
    for batch, width in [(1, 4), (3, 9)]:
        fresh_x, fresh_y = torch.randn(batch, 3, 5, width), torch.randn(width)
        expected = model(fresh_x, fresh_y).numpy()  # outputs keep PyTorch's order
        interpreter.resize_tensor_input(details[0]["index"], [batch, 5, width, 3], strict=True)
        interpreter.resize_tensor_input(details[1]["index"], [width], strict=True)
        interpreter.allocate_tensors()
        interpreter.set_tensor(details[0]["index"], nhwc(fresh_x))
        interpreter.set_tensor(details[1]["index"], fresh_y.numpy())
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
        got = np.asarray(keras_model([nhwc(fresh_x), fresh_y.numpy()]))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
