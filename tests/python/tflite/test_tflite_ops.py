"""Single ops through the direct TFLite writer: resize, matmul, layer norm, gelu, softmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ai_edge_litert")

import ferry  # noqa: E402
from ferry import _core  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402

PT = ferry.ChannelOrder.PYTORCH


class Fn(torch.nn.Module):
    def __init__(self, fn, *params: torch.Tensor):
        super().__init__()
        self.fn = fn
        self.params = torch.nn.ParameterList(params)

    def forward(self, *args):
        return self.fn(*args, *self.params)


def _run(fn, shapes, *params, tolerance=1e-5):
    """Converts with PyTorch-order I/O, checks a fresh input in LiteRT, returns the op names."""
    model = Fn(fn, *params).eval()
    data = ferry.pytorch_to_tflite(
        model,
        [torch.randn(*s) for s in shapes],
        inputs_channel_order=PT,
        outputs_channel_order=PT,
    )
    fresh = [torch.randn(*s) * 3 + 1 for s in shapes]
    with torch.no_grad():
        expected = model(*fresh).numpy()
    (got,) = run_tflite(data, [x.numpy() for x in fresh])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= tolerance * max(1.0, np.abs(expected).max())
    return [(op[0], op[1]) for op in _core.read_tflite(data)["ops"]]


RESIZES = [
    (dict(size=(13, 9), mode="bilinear", align_corners=False), ("RESIZE_BILINEAR", 3)),
    (dict(size=(13, 9), mode="bilinear", align_corners=True), ("RESIZE_BILINEAR", 1)),
    (dict(size=(5, 3), mode="bilinear", align_corners=False), ("RESIZE_BILINEAR", 3)),
    (dict(size=(12, 16), mode="nearest"), ("RESIZE_NEAREST_NEIGHBOR", 1)),
    (dict(scale_factor=2, mode="nearest"), ("RESIZE_NEAREST_NEIGHBOR", 1)),
    (dict(size=(13, 9), mode="nearest-exact"), ("RESIZE_NEAREST_NEIGHBOR", 3)),
]


@pytest.mark.parametrize(("kwargs", "expected_op"), RESIZES)
def test_resize(kwargs, expected_op):
    ops = _run(lambda x: F.interpolate(x, **kwargs), [(1, 3, 6, 8)])
    assert expected_op in ops


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(size=(12, 16), mode="bicubic"), "method 'bicubic'"),
        # Samples at 1/1.5, not at in/out = 7/10: the core keeps the scale.
        (dict(scale_factor=1.5, mode="bilinear"), "explicit scale factor"),
    ],
)
def test_resize_without_an_exact_builtin_is_refused(kwargs, message):
    with pytest.raises(ferry.ConversionError, match=message):
        _run(lambda x: F.interpolate(x, **kwargs), [(1, 3, 7, 7)])


def test_matmul_batched_with_broadcast_and_transpose():
    ops = _run(lambda a, b: a @ b.transpose(-1, -2), [(2, 3, 5, 4), (3, 6, 4)])
    assert ("BATCH_MATMUL", 1) in ops


def test_matmul_with_a_constant_right_operand():
    weight = torch.nn.Parameter(torch.randn(4, 6))
    ops = _run(lambda a, w: a @ w, [(2, 5, 4)], weight)
    assert ("FULLY_CONNECTED", 5) in ops and all(name != "BATCH_MATMUL" for name, _ in ops)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_is_exact(affine):
    norm = torch.nn.LayerNorm(32, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-1, 1)
    ops = _run(lambda x: norm(x), [(2, 7, 32)], tolerance=1e-5)
    assert ("RSQRT", 1) in ops


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    ops = _run(lambda x: F.gelu(x, approximate=approximate), [(2, 5, 7)])
    assert ops == [("GELU", 1)]


def test_softmax_over_a_middle_axis():
    ops = _run(lambda x: torch.softmax(x, dim=1), [(2, 5, 7)])
    assert ops == [("TRANSPOSE", 1), ("SOFTMAX", 1), ("TRANSPOSE", 1)]
