"""Math, comparison, reduction, update and 1-D / 3-D conv ops through the direct TFLite writer.

Each case converts one PyTorch expression with PyTorch-order inputs and outputs, runs it in
LiteRT on fresh inputs and compares with PyTorch: floats within 1e-5 x max(1, max |expected|),
bool and integer outputs exactly (litert_cases.run). The emitted file must hold the expected
(op, version) pairs: versions follow the format's rules for the types and ranks involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ai_edge_litert")

from litert_cases import Spec, assert_matches, convert, run  # noqa: E402

import ferry  # noqa: E402
from ferry import _core  # noqa: E402

TOLERANCE = 1e-5


def pos(*shape: int) -> Callable[[], torch.Tensor]:
    """Floats in [0.5, 3.5): for log, sqrt, rsqrt and pow bases."""
    return lambda: torch.rand(shape) * 3 + 0.5


def ints(
    low: int, high: int, *shape: int, dtype: torch.dtype = torch.int64
) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(low, high, shape, dtype=dtype)


def nonzero_ints(*shape: int, dtype: torch.dtype = torch.int32) -> Callable[[], torch.Tensor]:
    """Integers in [-5, 5] without 0: divisors."""
    return lambda: (torch.randint(1, 6, shape) * (torch.randint(0, 2, shape) * 2 - 1)).to(dtype)


def bools(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.rand(shape) > 0.5


def update_slice(x: torch.Tensor, u: torch.Tensor, index: Any) -> torch.Tensor:
    y = x.clone()
    y[index] = u
    return y


S3 = (2, 5, 7)
R5 = (2, 3, 4, 5, 6)
R6 = (2, 3, 2, 3, 2, 4)

# (id, fn, input specs, (op, version) pairs that must appear)
CASES: list[tuple[str, Callable[..., torch.Tensor], list[Spec], list[tuple[str, int]]]] = [
    # unary
    ("exp", torch.exp, [S3], [("EXP", 1)]),
    ("log", torch.log, [pos(*S3)], [("LOG", 1)]),
    ("sqrt", torch.sqrt, [pos(*S3)], [("SQRT", 1)]),
    ("rsqrt", torch.rsqrt, [pos(*S3)], [("RSQRT", 1)]),
    ("neg", torch.neg, [S3], [("NEG", 1)]),
    ("neg_int64", torch.neg, [ints(-9, 9, *S3)], [("NEG", 1)]),
    ("abs", torch.abs, [S3], [("ABS", 1)]),
    ("abs_int32", torch.abs, [ints(-9, 9, *S3, dtype=torch.int32)], [("ABS", 5)]),
    # No int64 ABS kernel: a select of the negation.
    ("abs_int64", torch.abs, [ints(-9, 9, *S3)], [("LESS", 1), ("NEG", 1), ("SELECT_V2", 1)]),
    ("floor", torch.floor, [S3], [("FLOOR", 1)]),
    ("ceil", torch.ceil, [S3], [("CEIL", 1)]),
    ("round", torch.round, [S3], [("ROUND", 1)]),
    ("sin", torch.sin, [S3], [("SIN", 1)]),
    ("cos", torch.cos, [S3], [("COS", 1)]),
    ("logical_not", torch.logical_not, [bools(*S3)], [("LOGICAL_NOT", 1)]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), [S3], [("LEAKY_RELU", 1)]),
    ("elu", F.elu, [S3], [("ELU", 1)]),
    ("elu_alpha", lambda x: F.elu(x, alpha=0.4), [S3], [("ELU", 1), ("MINIMUM", 1)]),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1), [S3], [("LOG_SOFTMAX", 1)]),
    (
        "log_softmax_axis1",
        lambda x: F.log_softmax(x, dim=1),
        [S3],
        [("TRANSPOSE", 1), ("LOG_SOFTMAX", 1)],
    ),
    ("erf", torch.erf, [S3], [("EXP", 1), ("SELECT_V2", 1)]),
    # binary
    (
        "floor_div",
        lambda a, b: torch.div(a, b, rounding_mode="floor"),
        [S3, S3],
        [("FLOOR_MOD", 1), ("ROUND", 1), ("SELECT_V2", 1)],
    ),
    ("floor_div_const", lambda a: a // 0.7, [S3], [("FLOOR_MOD", 1), ("ROUND", 1)]),
    (
        "floor_div_int32",
        lambda a, b: a // b,
        [ints(-20, 20, *S3, dtype=torch.int32), nonzero_ints(*S3)],
        [("FLOOR_DIV", 1)],
    ),
    ("trunc_div", lambda a, b: torch.div(a, b, rounding_mode="trunc"), [S3, S3], [("CEIL", 1)]),
    ("pow", torch.pow, [pos(*S3), S3], [("POW", 1)]),
    ("pow_scalar", lambda x: x**2.5, [pos(*S3)], [("POW", 1)]),
    ("maximum", torch.maximum, [S3, (5, 1)], [("MAXIMUM", 1)]),
    ("minimum", torch.minimum, [S3, S3], [("MINIMUM", 1)]),
    ("equal", torch.eq, [ints(0, 3, *S3), ints(0, 3, 7)], [("EQUAL", 1)]),
    ("not_equal", torch.ne, [ints(0, 3, *S3), ints(0, 3, *S3)], [("NOT_EQUAL", 1)]),
    ("less", torch.lt, [S3, S3], [("LESS", 1)]),
    ("less_equal", torch.le, [ints(0, 3, *S3), ints(0, 3, *S3)], [("LESS_EQUAL", 1)]),
    ("greater", torch.gt, [S3, (7,)], [("GREATER", 1)]),
    ("greater_equal", torch.ge, [S3, S3], [("GREATER_EQUAL", 1)]),
    ("logical_and", torch.logical_and, [bools(*S3), bools(*S3)], [("LOGICAL_AND", 1)]),
    ("logical_or", lambda a, b: a | b, [bools(*S3), bools(5, 1)], [("LOGICAL_OR", 1)]),
    ("where", lambda c, a, b: torch.where(c, a, b), [bools(*S3), S3, S3], [("SELECT_V2", 1)]),
    ("where_method_scalar", lambda x: x.where(x > 0, 2.0), [S3], [("SELECT_V2", 1)]),
    ("expand", lambda x: x.expand(2, 5, 7), [(2, 1, 7)], [("BROADCAST_TO", 2)]),
    ("repeat", lambda x: x.repeat(2, 1, 3), [S3], [("BROADCAST_TO", 2), ("RESHAPE", 1)]),
    ("repeat_new_dim", lambda x: x.repeat(3, 1, 1, 2), [S3], [("BROADCAST_TO", 2)]),
    ("cast_int64", lambda x: x.long(), [S3], [("CAST", 1)]),
    ("cast_int32", lambda x: x.to(torch.int32), [S3], [("CAST", 1)]),
    ("cast_bool_float", lambda x: (x > 1).float(), [S3], [("CAST", 1)]),
    ("add_int64", lambda x: x.long() + 1, [S3], [("ADD", 4)]),
    ("mul_int64", lambda x: x.long() * 3, [S3], [("MUL", 5)]),
    ("sub_int64", lambda x: x.long() - 2, [S3], [("SUB", 4)]),
    # reductions
    ("sum", lambda x: x.sum(dim=1), [S3], [("SUM", 1)]),
    ("sum_int64", lambda x: x.sum(dim=(0, 2)), [ints(-9, 9, *S3)], [("SUM", 1)]),
    ("amax", lambda x: x.amax(dim=(1, 2), keepdim=True), [S3], [("REDUCE_MAX", 1)]),
    ("amin", lambda x: x.amin(dim=0), [S3], [("REDUCE_MIN", 1)]),
    ("max_all", lambda x: x.max(), [S3], [("REDUCE_MAX", 1)]),
    ("prod", lambda x: x.prod(dim=1), [pos(*S3)], [("REDUCE_PROD", 1)]),
    # slice_update
    (
        "slice_update",
        lambda x, u: update_slice(x, u, (slice(None), slice(1, 3))),
        [S3, (2, 2, 7)],
        [("STRIDED_SLICE", 1), ("CONCATENATION", 1)],
    ),
    (
        "slice_update_strided",
        lambda x, u: update_slice(x, u, (slice(None), slice(None, None, 2), slice(1, 6, 3))),
        [S3, (2, 3, 2)],
        [("STRIDED_SLICE", 1), ("RESHAPE", 1), ("CONCATENATION", 1)],
    ),
    (
        "slice_update_int64",
        lambda x, u: update_slice(x, u, (1, slice(2, 4))),
        [ints(0, 9, *S3), ints(0, 9, 2, 7)],
        [("STRIDED_SLICE", 1), ("CONCATENATION", 1)],
    ),
    # matrix products with a bias; normalize
    ("addmm", torch.addmm, [(3, 5), (3, 4), (4, 5)], [("BATCH_MATMUL", 1), ("ADD", 1)]),
    (
        "baddbmm",
        lambda i, a, b: i.baddbmm(a, b, beta=-1.5, alpha=0.25),
        [(3, 5), (2, 3, 4), (2, 4, 5)],
        [("BATCH_MATMUL", 1), ("MUL", 1), ("ADD", 1)],
    ),
    ("normalize", F.normalize, [(2, 3, 5, 7)], [("SUM", 1), ("SQRT", 1), ("MAXIMUM", 1)]),
    (
        "normalize_p1",
        lambda x: F.normalize(x, p=1, dim=-1, eps=1e-3),
        [(2, 3, 5, 7)],
        [("ABS", 1), ("SUM", 1), ("MAXIMUM", 1), ("DIV", 1)],
    ),
    # rank 5 and 6
    ("add_r5", torch.add, [R5, (1, 3, 1, 5, 1)], [("ADD", 1)]),
    ("sub_r5", torch.sub, [R5, (1, 3, 1, 5, 1)], [("SUB", 3)]),
    ("div_r5", torch.div, [R5, pos(3, 1, 5, 6)], [("DIV", 2)]),
    ("maximum_r5", torch.maximum, [R5, (6,)], [("MAXIMUM", 3)]),
    ("clip_r5", lambda x: x.clamp(-1.0, 2.0), [R5], [("MAXIMUM", 3), ("MINIMUM", 3)]),
    ("mul_r6", torch.mul, [R6, (3, 1, 3, 1, 4)], [("MUL", 1)]),
    ("exp_r6", torch.exp, [R6], [("EXP", 1)]),
    ("greater_r5", torch.gt, [R5, (1, 3, 1, 5, 6)], [("GREATER", 1)]),
    ("where_r5", lambda x: torch.where(x > 0, x, -x), [R5], [("SELECT_V2", 1)]),
    ("transpose_r5", lambda x: x.permute(4, 2, 0, 1, 3), [R5], [("TRANSPOSE", 4)]),
    ("transpose_r6", lambda x: x.permute(5, 1, 0, 2, 4, 3), [R6], [("TRANSPOSE", 6)]),
    ("slice_r5", lambda x: x[:, 1:, ::2, :4, 1::3], [R5], [("STRIDED_SLICE", 4)]),
    ("concat_r5", lambda a, b: torch.cat([a, b], dim=3), [R5, R5], [("CONCATENATION", 1)]),
    ("concat_r6", lambda a, b: torch.cat([a, b], dim=2), [R6, R6], [("CONCATENATION", 1)]),
    ("reshape_r6", lambda x: x.reshape(2, 3, 4, 5, 3, 2), [R5], [("RESHAPE", 1)]),
    ("sum_r5", lambda x: x.sum(dim=(1, 3)), [R5], [("SUM", 1)]),
    ("mean_r6", lambda x: x.mean(dim=-1, keepdim=True), [R6], [("MEAN", 1)]),
    ("softmax_r5", lambda x: torch.softmax(x, dim=2), [R5], [("TRANSPOSE", 4), ("SOFTMAX", 1)]),
    ("log_softmax_r6", lambda x: F.log_softmax(x, dim=-1), [R6], [("LOG_SOFTMAX", 1)]),
    ("pad_r5", lambda x: F.pad(x, (1, 2, 0, 1)), [R5], [("PAD", 4)]),
    (
        "slice_update_r6",
        lambda x, u: update_slice(x, u, (slice(None), slice(1, 3))),
        [R6, (2, 2, 2, 3, 2, 4)],
        [("DYNAMIC_UPDATE_SLICE", 1)],
    ),
    (
        "slice_update_strided_r5",
        lambda x, u: update_slice(x, u, (slice(None), slice(None), slice(1, None, 2))),
        [R5, (2, 3, 2, 5, 6)],
        [("STRIDED_SLICE", 4), ("RESHAPE", 1), ("CONCATENATION", 1)],
    ),
]


@pytest.mark.parametrize(
    ("fn", "specs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_op(fn, specs, expected):
    ops = run(fn, specs, tolerance=TOLERANCE)
    for op in expected:
        assert op in ops, (op, ops)


def test_round_is_half_to_even():
    halves = torch.tensor([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 4.5]])
    ops = run(torch.round, [lambda: halves], fresh=[halves])
    assert ops == [("ROUND", 1)]


def test_floor_div_follows_pytorch_where_the_quotient_rounds_onto_an_integer():
    # 1 / 0.1 rounds to 10 in float32 while the exact quotient is below 10: PyTorch gives 9
    # (FLOOR_DIV would give 10). A zero divisor gives PyTorch's a / b (FLOOR_DIV stops).
    a = torch.tensor([1.0, -1.0, 0.3, 7.0, -7.0, 5.0, -5.0, 0.0])
    b = torch.tensor([0.1, 0.1, 0.1, 2.0, 2.0, 0.0, 0.0, 0.0])
    ops = run(
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        [lambda: a, lambda: b],
        fresh=[a, b],
    )
    assert ("FLOOR_DIV", 1) not in ops and ("FLOOR_DIV", 2) not in ops


def test_erf_is_accurate_over_its_range():
    # No builtin: a rational approximation (error below 1.5e-7) evaluated in float32.
    x = torch.linspace(-6, 6, 120001).reshape(1, -1)
    ops = run(torch.erf, [lambda: x], fresh=[x], tolerance=1e-6)
    assert ("SELECT_V2", 1) in ops


def _bn(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 1.5)
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.5, 0.5)
    return module


class _Conv1D(torch.nn.Module):
    """GPT-2's projection: addmm of a constant bias and a constant [in, out] weight."""

    def __init__(self, beta: float = 1.0, alpha: float = 1.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(8, 6))
        self.bias = torch.nn.Parameter(torch.randn(6))
        self.beta, self.alpha = beta, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.addmm(self.bias, x.view(-1, 8), self.weight, beta=self.beta, alpha=self.alpha)
        return y.view(*x.shape[:-1], 6)


@pytest.mark.parametrize(
    ("beta", "alpha"), [(1.0, 1.0), (0.5, -2.0), (0.0, 3.0)], ids=["plain", "scaled", "beta0"]
)
def test_addmm_with_constant_weight_is_fully_connected(beta, alpha):
    ops = run(_Conv1D(beta, alpha), [(2, 3, 8)])
    assert ("FULLY_CONNECTED", 1) in ops
    assert not {"BATCH_MATMUL", "MUL", "ADD"} & {name for name, _ in ops}, ops


def _conv_ops(data: bytes) -> list[tuple]:
    return [op for op in _core.read_tflite(data)["ops"] if op[0].startswith("CONV")]


def test_conv1d_batch_norm_relu_fold_and_fuse():
    model = torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, 3, padding=1), _bn(torch.nn.BatchNorm1d(8)), torch.nn.ReLU()
    )
    ops = run(model, [(2, 3, 17)])
    assert ("CONV_2D", 1) in ops and ("RESHAPE", 1) in ops
    assert not {"MUL", "ADD", "RELU"} & {name for name, _ in ops}, ops
    (conv,) = _conv_ops(convert(model, [(2, 3, 17)]))
    assert conv[4] == "RELU"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (torch.nn.Conv1d(4, 8, 5, stride=2, dilation=2), ("CONV_2D", 1)),
        (torch.nn.Conv1d(4, 6, 3, groups=2, padding="same"), ("CONV_2D", 6)),
        (torch.nn.Conv1d(4, 8, 3, groups=4), ("DEPTHWISE_CONV_2D", 1)),
        (torch.nn.MaxPool1d(3, stride=2), ("MAX_POOL_2D", 1)),
        (torch.nn.AvgPool1d(2), ("AVERAGE_POOL_2D", 1)),
    ],
    ids=["conv_strided_dilated", "conv_grouped", "depthwise", "max_pool", "avg_pool"],
)
def test_1d_layers(module, expected):
    ops = run(module, [(2, 4, 19)])
    assert expected in ops, ops


def test_conv3d_batch_norm_relu():
    model = torch.nn.Sequential(
        torch.nn.Conv3d(3, 5, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1)),
        _bn(torch.nn.BatchNorm3d(5)),
        torch.nn.ReLU(),
    )
    ops = run(model, [(2, 3, 6, 7, 8)])
    assert ("CONV_3D", 1) in ops
    assert not {"MUL", "ADD", "RELU"} & {name for name, _ in ops}, ops
    (conv,) = _conv_ops(convert(model, [(2, 3, 6, 7, 8)]))
    assert conv[4] == "RELU"


@pytest.mark.parametrize(
    "module",
    [
        torch.nn.Conv3d(4, 6, 3, groups=2, dilation=(1, 2, 1)),
        torch.nn.Conv3d(4, 8, (1, 3, 3), groups=4, padding="same"),
    ],
    ids=["grouped", "depthwise"],
)
def test_conv3d_groups(module):
    ops = run(module, [(1, 4, 5, 9, 8)])
    assert ("CONV_3D", 1) in ops and ("CONCATENATION", 1) in ops


@pytest.mark.parametrize(
    ("fn", "specs", "message"),
    [
        (torch.nn.ConstantPad1d((1, 1), 0.0), [R6], "PAD / PADV2 take at most 5"),
        (lambda a, b: a // b, [ints(-9, 9, 3), ints(1, 9, 3)], "FLOOR_DIV has no int64"),
        (lambda x: x[:, 1:], [R6], "STRIDED_SLICE is specified for at most 5"),
        (lambda x: x.reshape(1, 2, 3, 2, 3, 2, 4) + 1, [R6], "rank 7"),
    ],
    ids=["pad_r6", "floor_div_int64", "slice_r6", "rank7"],
)
def test_refusals_name_the_op(fn, specs, message):
    with pytest.raises(ferry.ConversionError, match=message):
        convert(fn, specs)


def test_tolerance_helper_rejects_a_wrong_bool():
    with pytest.raises(AssertionError):
        assert_matches(np.array([True, False]), np.array([True, True]), TOLERANCE)
