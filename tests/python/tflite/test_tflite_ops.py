"""Single ops through the direct TFLite writer: resize, matmul, layer norm, gelu, softmax."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ai_edge_litert")

from litert_cases import run  # noqa: E402

import ferry  # noqa: E402

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
    ops = run(lambda x: F.interpolate(x, **kwargs), [(1, 3, 6, 8)])
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
        run(lambda x: F.interpolate(x, **kwargs), [(1, 3, 7, 7)])


def test_matmul_batched_with_broadcast_and_transpose():
    ops = run(lambda a, b: a @ b.transpose(-1, -2), [(2, 3, 5, 4), (3, 6, 4)])
    assert ("BATCH_MATMUL", 1) in ops


def test_matmul_with_a_constant_right_operand():
    weight = torch.nn.Parameter(torch.randn(4, 6))
    ops = run(lambda a, w: a @ w, [(2, 5, 4)], weight)
    assert ("FULLY_CONNECTED", 5) in ops and all(name != "BATCH_MATMUL" for name, _ in ops)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_is_exact(affine):
    norm = torch.nn.LayerNorm(32, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-1, 1)
    ops = run(lambda x: norm(x), [(2, 7, 32)], tolerance=1e-5)
    assert ("RSQRT", 1) in ops


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    ops = run(lambda x: F.gelu(x, approximate=approximate), [(2, 5, 7)])
    assert ops == [("GELU", 1)]


def test_softmax_over_a_middle_axis():
    ops = run(lambda x: torch.softmax(x, dim=1), [(2, 5, 7)])
    assert ops == [("TRANSPOSE", 1), ("SOFTMAX", 1), ("TRANSPOSE", 1)]
