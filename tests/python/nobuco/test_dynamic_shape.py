"""nobuco's README, section "Going dynamic / Dynamic shapes", three ways: the sizes read with
`x.shape` and converted at the traced size, read with `nobuco.shape(x)`, and read with
`x.shape` under `trace_shape=True`. The two dynamic ones run at other sizes."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder

pytest.importorskip("ai_edge_litert")
from free_size_runs import nhwc, run_resized  # noqa: E402

TOLERANCE = 1e-5
OTHER_SIZES = [(1, 3, 96, 160), (3, 3, 50, 31), (2, 3, 7, 200)]


class DynamicShape(nn.Module):
    def __init__(self, read_shape):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=(1, 1))
        self.read_shape = read_shape

    def forward(self, x):
        x = self.conv(x)

        b, c, h, w = self.read_shape(x)

        x = x[:, :, h // 3 :, w // 3 :]
        return x


def by_attribute(x):
    # Produces static shape
    return x.shape


def convert_both(module, input, **options):
    common = dict(
        args=[input],
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
        verbose=False,
        **options,
    )
    return nobuco.pytorch_to_keras(module, **common), nobuco.pytorch_to_tflite(module, **common)


def op_counts(data: bytes) -> collections.Counter:
    return collections.Counter(op[0] for op in nobuco._core.read_tflite(bytes(data))["ops"])


def test_static_shape_converts_at_the_traced_size():
    torch.manual_seed(0)
    input = torch.normal(0, 1, size=(1, 3, 128, 128))
    pytorch_module = DynamicShape(by_attribute).eval()
    keras_model, data = convert_both(pytorch_module, input)
    assert "SHAPE" not in op_counts(data)  # every size folded
    fresh = torch.normal(0, 1, size=(1, 3, 128, 128))
    with torch.no_grad():
        expected = nhwc(pytorch_module(fresh))
    assert np.abs(np.asarray(keras_model(nhwc(fresh))) - expected).max() <= TOLERANCE
    assert np.abs(run_resized(data, nhwc(fresh)) - expected).max() <= TOLERANCE


@pytest.mark.parametrize(
    "read_shape, options",
    [(nobuco.shape, {}), (by_attribute, {"trace_shape": True})],
    ids=["nobuco.shape", "trace_shape"],
)
def test_dynamic_height_and_width(read_shape, options):
    torch.manual_seed(0)
    input = torch.normal(0, 1, size=(1, 3, 128, 128))
    pytorch_module = DynamicShape(read_shape).eval()

    keras_model, data = convert_both(
        pytorch_module,
        input,
        input_shapes={input: (None, 3, None, None)},  # Annotate dynamic axes with None
        **options,
    )
    counts = op_counts(data)
    assert counts["SHAPE"] >= 1 and counts["FLOOR_DIV"] == 2  # h // 3 and w // 3 at run time
    assert counts["TRANSPOSE"] == 0
    assert tuple(keras_model.inputs[0].shape) == (None, None, None, 3)
    for size in OTHER_SIZES:
        x = torch.normal(0, 1, size=size)
        with torch.no_grad():
            expected = nhwc(pytorch_module(x))
        for got in (np.asarray(keras_model(nhwc(x))), run_resized(data, nhwc(x))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


def test_trace_shape_without_a_free_dim_says_it_does_nothing():
    input = torch.normal(0, 1, size=(1, 3, 16, 16))
    with pytest.warns(nobuco.OptionNotUsedWarning, match="trace_shape=True has no effect"):
        nobuco.pytorch_to_tflite(
            DynamicShape(by_attribute).eval(), [input], trace_shape=True, verbose=False
        )
