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
    ("kwargs", "taps"),
    [
        (dict(size=(12, 16), mode="bicubic"), 4),
        (dict(size=(12, 16), mode="bicubic", align_corners=True), 4),
        # Samples at 1/1.5, not at in/out = 7/10: the core keeps the scale.
        (dict(scale_factor=1.5, mode="bilinear"), 2),
        (dict(scale_factor=1.7, mode="nearest"), 1),
    ],
)
def test_resize_without_an_exact_builtin_is_separable(kwargs, taps):
    # Per resized axis: one GATHER per tap along that axis, weighted and summed; no RESIZE_*.
    ops = run(lambda x: F.interpolate(x, **kwargs), [(1, 3, 7, 7)])
    names = [name for name, _ in ops]
    assert not any(name.startswith("RESIZE") for name in names)
    assert names.count("GATHER") == 2 * taps
    assert names.count("MUL") == (2 * taps if taps > 1 else 0)
    assert ("GATHER", 1) in ops


def test_resize_leaves_an_unresized_axis_alone():
    # 1-D linear resizing is a height-1 image: only the width is gathered.
    ops = run(lambda x: F.interpolate(x, scale_factor=1.7, mode="linear"), [(1, 3, 9)])
    assert [name for name, _ in ops].count("GATHER") == 2


def test_float64_resize_is_refused_with_the_way_out():
    with pytest.raises(ferry.ConversionError, match="float64 resizing.*float32"):
        run(
            lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
            [lambda: torch.randn(1, 3, 7, 7).double()],
        )


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
