"""Every op of docs/tf_ops.md run through a one-node Keras model, against PyTorch/NumPy."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from keras_graph_helpers import GraphMaker, assert_close, run, to_torch

from ferry.keras import build_keras_model
from ferry.keras.native import NATIVE
from ferry.keras.ops import OPS

rng = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def pos(*shape: int) -> np.ndarray:
    return rng.uniform(0.1, 3.0, shape).astype(np.float32)


def i32(*shape: int, lo: int = -9, hi: int = 10) -> np.ndarray:
    return rng.integers(lo, hi, shape).astype(np.int32)


def boolean(*shape: int) -> np.ndarray:
    return rng.random(shape) > 0.5


def T(fn: Callable[..., torch.Tensor]) -> Callable[..., np.ndarray]:
    return lambda *arrays: fn(*to_torch(*arrays)).numpy()


@dataclass
class Case:
    op: str
    inputs: list[np.ndarray]
    attrs: dict[str, Any]
    ref: Callable[..., np.ndarray]
    consts: set[int] = field(default_factory=set)  # operand positions given as constants
    id: str = ""


def _put(x: np.ndarray, region: tuple[slice, ...], update: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[region] = update
    return out


HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -3.7], np.float32)
FLOOR_A = np.array([1.0, -1.0, 7.5, -7.5, 5.0, -5.0, 0.0, 3.0, -0.3, 1e-3], np.float32)
FLOOR_B = np.array([0.1, 0.1, 2.0, 2.0, -3.0, -3.0, 2.0, 0.0, 0.7, -1e-4], np.float32)
X = f32(2, 3, 4)


def _space_to_depth_ref(x: np.ndarray, r: int) -> np.ndarray:
    """tf.nn.space_to_depth by its definition: channel (dy*r + dx)*C + c."""
    n, h, w, c = x.shape
    y = x.reshape(n, h // r, r, w // r, r, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // r, w // r, r * r * c)


def _depth_to_space_ref(x: np.ndarray, r: int) -> np.ndarray:
    n, h, w, c = x.shape
    y = x.reshape(n, h, w, r, r, c // (r * r)).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * r, w * r, c // (r * r))


NHWC = f32(2, 4, 6, 3)
CASES = [
    Case("space_to_depth", [NHWC], {"block_size": 2}, lambda x: _space_to_depth_ref(x, 2)),
    Case(
        "depth_to_space", [f32(2, 2, 3, 12)], {"block_size": 2}, lambda x: _depth_to_space_ref(x, 2)
    ),
    Case(
        "pad",
        [X],
        {"pads": [0, 0, 1, 2, 3, 0], "mode": "CONSTANT", "value": 1.5},
        lambda x: np.pad(x, [(0, 0), (1, 2), (3, 0)], constant_values=1.5),
        id="const",
    ),
    Case(
        "pad",
        [X],
        {"pads": [0, 0, 1, 1, 0, 2], "mode": "CONSTANT", "value": float("-inf")},
        lambda x: np.pad(x, [(0, 0), (1, 1), (0, 2)], constant_values=-np.inf),
        id="-inf",
    ),
    Case(
        "pad",
        [X],
        {"pads": [0, 0, 1, 1, 2, 3], "mode": "REFLECT", "value": 0.0},
        lambda x: np.pad(x, [(0, 0), (1, 1), (2, 3)], mode="reflect"),
        id="reflect",
    ),
    Case(
        "pad",
        [X],
        {"pads": [0, 0, 2, 1, 1, 3], "mode": "SYMMETRIC", "value": 0.0},
        lambda x: np.pad(x, [(0, 0), (2, 1), (1, 3)], mode="symmetric"),
        id="symmetric",
    ),
    Case(
        "pad",
        [X],
        {"pads": [0, 0, -1, 2, 1, -2], "mode": "CONSTANT", "value": 0.0},
        T(lambda x: F.pad(x, (1, -2, -1, 2))),
        id="negative",
    ),
    Case("relu", [X], {}, T(torch.relu)),
    Case("relu6", [X * 4], {}, T(F.relu6)),
    Case("sigmoid", [X], {}, T(torch.sigmoid)),
    Case("tanh", [X], {}, T(torch.tanh)),
    Case("silu", [X], {}, T(F.silu)),
    Case("exp", [X], {}, T(torch.exp)),
    Case("exp", [i32(2, 3, lo=-3, hi=4)], {}, T(torch.exp), id="int"),
    Case("log", [pos(2, 3, 4)], {}, T(torch.log)),
    Case("sqrt", [pos(2, 3, 4)], {}, T(torch.sqrt)),
    Case("rsqrt", [pos(2, 3, 4)], {}, T(torch.rsqrt)),
    Case("neg", [X], {}, T(torch.neg)),
    Case("abs", [i32(3, 4)], {}, T(torch.abs), id="int"),
    Case("erf", [X], {}, T(torch.erf)),
    Case("floor", [X * 3], {}, T(torch.floor)),
    Case("floor", [i32(5)], {}, T(torch.floor), id="int"),
    Case("ceil", [X * 3], {}, T(torch.ceil)),
    Case("round", [HALVES], {}, T(torch.round)),
    Case("sin", [X], {}, T(torch.sin)),
    Case("cos", [X], {}, T(torch.cos)),
    Case("logical_not", [boolean(3, 4)], {}, T(torch.logical_not)),
    Case("hard_sigmoid", [X * 4], {}, T(F.hardsigmoid)),
    Case("hard_swish", [X * 4], {}, T(F.hardswish)),
    Case("gelu", [X * 3], {"approximate": "none"}, T(F.gelu), id="none"),
    Case(
        "gelu",
        [X * 3],
        {"approximate": "tanh"},
        T(lambda x: F.gelu(x, approximate="tanh")),
        id="tanh",
    ),
    Case("leaky_relu", [X], {"alpha": 0.1}, T(lambda x: F.leaky_relu(x, 0.1))),
    Case("leaky_relu", [X], {"alpha": 2.0}, T(lambda x: F.leaky_relu(x, 2.0)), id="steep"),
    Case("elu", [X], {"alpha": 1.0}, T(F.elu)),
    Case("elu", [X], {"alpha": 0.7}, T(lambda x: F.elu(x, 0.7)), id="alpha"),
    Case("clip", [X], {"min": -0.5, "max": 0.25}, T(lambda x: torch.clamp(x, -0.5, 0.25))),
    Case("clip", [X], {"min": None, "max": 0.25}, T(lambda x: torch.clamp(x, max=0.25)), id="max"),
    Case("clip", [X], {"min": -0.5, "max": None}, T(lambda x: torch.clamp(x, min=-0.5)), id="min"),
    Case(
        "clip", [X], {"min": 1.0, "max": -1.0}, T(lambda x: torch.clamp(x, 1.0, -1.0)), id="crossed"
    ),
    Case("add", [X, f32(4)], {}, T(torch.add)),
    Case("add", [X, f32(3, 1)], {}, T(torch.add), consts={1}, id="const"),
    Case("add", [X, np.array(0.5)], {}, T(torch.add), consts={1}, id="f64-scalar"),
    Case("add", [i32(3, 4), np.array(7, np.int64)], {}, T(torch.add), consts={1}, id="int-scalar"),
    Case(
        "mul",
        [i32(3, 4), np.array(0.5, np.float32)],
        {},
        T(torch.mul),
        consts={1},
        id="int-by-float",
    ),
    Case("sub", [X, f32(2, 1, 4)], {}, T(torch.sub)),
    Case("mul", [X, f32(1, 3, 1)], {}, T(torch.mul)),
    Case("div", [X, pos(4)], {}, T(torch.div)),
    Case("div", [i32(3, 4), i32(3, 4, lo=1)], {}, T(torch.div), id="int"),
    Case("floor_div", [FLOOR_A, FLOOR_B], {}, T(torch.floor_divide), id="edges"),
    Case("floor_div", [X * 5, f32(4)], {}, T(torch.floor_divide)),
    Case(
        "floor_div",
        [i32(3, 4), i32(4, lo=1, hi=5) * np.array([1, -1, 1, -1], np.int32)],
        {},
        T(torch.floor_divide),
        id="int",
    ),
    Case("pow", [pos(2, 3, 4), X], {}, T(torch.pow)),
    Case("pow", [X, np.array(2.0, np.float32)], {}, T(torch.pow), consts={1}, id="square"),
    Case("maximum", [X, f32(4)], {}, T(torch.maximum)),
    Case("minimum", [X, f32(4)], {}, T(torch.minimum)),
    Case("equal", [i32(3, 4, lo=0, hi=3), i32(4, lo=0, hi=3)], {}, T(torch.eq)),
    Case("not_equal", [i32(3, 4, lo=0, hi=3), i32(4, lo=0, hi=3)], {}, T(torch.ne)),
    Case("less", [X, f32(4)], {}, T(torch.lt)),
    Case("less_equal", [i32(3, 4, lo=0, hi=3), i32(4, lo=0, hi=3)], {}, T(torch.le)),
    Case("greater", [X, f32(4)], {}, T(torch.gt)),
    Case("greater_equal", [i32(3, 4, lo=0, hi=3), i32(4, lo=0, hi=3)], {}, T(torch.ge)),
    Case("logical_and", [boolean(3, 4), boolean(4)], {}, T(torch.logical_and)),
    Case("logical_or", [boolean(3, 4), boolean(4)], {}, T(torch.logical_or)),
    Case("where", [boolean(3, 4), f32(3, 4), f32(4)], {}, T(torch.where)),
    Case(
        "where",
        [boolean(3, 4), f32(3, 4), np.array(0.0, np.float32)],
        {},
        T(torch.where),
        consts={0, 2},
        id="const",
    ),
    Case("matmul", [f32(2, 1, 3, 4), f32(5, 4, 6)], {}, T(torch.matmul)),
    Case(
        "matmul",
        [f32(2, 4, 3), f32(2, 6, 4)],
        {"transpose_a": True, "transpose_b": True},
        T(lambda a, b: a.transpose(-1, -2) @ b.transpose(-1, -2)),
        id="transposed",
    ),
    Case("matmul", [f32(4), f32(2, 4, 3)], {}, T(torch.matmul), id="vector-left"),
    Case("matmul", [f32(2, 3, 4), f32(4)], {}, T(torch.matmul), id="vector-right"),
    Case("matmul", [f32(3, 4), f32(4, 5)], {}, T(torch.matmul), consts={1}, id="const"),
    Case("reshape", [X], {"shape": [4, 6]}, lambda x: x.reshape(4, 6)),
    Case("reshape", [X], {"shape": [-1, 12]}, lambda x: x.reshape(-1, 12), id="infer"),
    Case("dims", [X], {"axes": [2, 0]}, lambda x: np.array([x.shape[2], x.shape[0]], np.int32)),
    Case(
        "reshape_to",
        [X, np.array([4, 6], np.int32)],
        {"shape": [-1, 6]},
        lambda x, s: x.reshape(4, 6),
        consts={1},
    ),
    Case(
        "range",
        [np.array(1, np.int32), np.array(9, np.int32), np.array(3, np.int32)],
        {},
        lambda start, limit, delta: np.arange(start, limit, delta, dtype=np.int32),
        consts={0, 2},
    ),
    Case(
        "fill",
        [np.array([2, 3], np.int32), np.array(1.5, np.float32)],
        {},
        lambda dims, value: np.full(dims, value, np.float32),
        consts={1},
    ),
    Case(
        "slice",
        [f32(4, 5, 6), np.array([2], np.int32)],
        {
            "begin": [0, 0, 1],
            "end": [4, 2**31 - 1, 6],
            "strides": [1, 1, 2],
            "begin_from": [-1, 1, -1],
            "end_from": [-1, -1, -1],
        },
        lambda x, b: x[:, int(b[0]) :, 1::2],
        id="run-time-bounds",
    ),
    Case("transpose", [X], {"perm": [2, 0, 1]}, lambda x: x.transpose(2, 0, 1)),
    Case(
        "concat",
        [X, f32(2, 1, 4), f32(2, 2, 4)],
        {"axis": 1},
        lambda *xs: np.concatenate(xs, axis=1),
    ),
    Case(
        "slice",
        [f32(4, 5, 6)],
        {"begin": [0, 1, 1], "end": [4, 4, 6], "strides": [2, 1, 2]},
        lambda x: x[0:4:2, 1:4, 1:6:2],
    ),
    Case(
        "slice_update",
        [f32(4, 5, 6), f32(2, 3, 3)],
        {"begin": [0, 1, 1], "end": [4, 4, 6], "strides": [2, 1, 2]},
        lambda x, u: _put(x, (slice(0, 4, 2), slice(1, 4), slice(1, 6, 2)), u),
    ),
    Case(
        "broadcast_to",
        [f32(1, 3, 1)],
        {"shape": [2, 3, 4]},
        lambda x: np.broadcast_to(x, (2, 3, 4)),
    ),
    Case("mean", [X], {"axes": [1], "keepdims": False}, lambda x: x.mean(axis=1)),
    Case(
        "mean",
        [X],
        {"axes": [0, 2], "keepdims": True},
        lambda x: x.mean(axis=(0, 2), keepdims=True),
        id="keepdims",
    ),
    Case("sum", [X], {"axes": [2], "keepdims": False}, T(lambda x: x.sum(2))),
    Case(
        "sum", [boolean(3, 4)], {"axes": [1], "keepdims": False}, T(lambda x: x.sum(1)), id="bool"
    ),
    Case(
        "sum",
        [i32(3, 4)],
        {"axes": [0], "keepdims": True},
        T(lambda x: x.sum(0, keepdim=True)),
        id="int",
    ),
    Case("max", [X], {"axes": [1], "keepdims": True}, T(lambda x: x.amax(1, keepdim=True))),
    Case(
        "max", [boolean(3, 4)], {"axes": [1], "keepdims": False}, T(lambda x: x.amax(1)), id="bool"
    ),
    Case("min", [X], {"axes": [0, 1], "keepdims": False}, T(lambda x: x.amin((0, 1)))),
    Case("prod", [X], {"axes": [1], "keepdims": False}, T(lambda x: x.prod(1))),
    Case("softmax", [X], {"axis": -1}, T(lambda x: torch.softmax(x, -1))),
    Case("log_softmax", [X], {"axis": 1}, T(lambda x: torch.log_softmax(x, 1))),
    Case("cast", [X * 5], {"dtype": "int32"}, T(lambda x: x.to(torch.int32)), id="to-int"),
    Case("cast", [i32(3, 4)], {"dtype": "float32"}, T(lambda x: x.float()), id="to-float"),
    Case("cast", [X.round()], {"dtype": "bool"}, T(lambda x: x.bool()), id="to-bool"),
    Case("cast", [boolean(3, 4)], {"dtype": "float64"}, T(lambda x: x.double()), id="bool-f64"),
    Case("identity", [X], {}, lambda x: x),
    # Weighted ops whose weights are computed tensors run as FerryOp.
    Case(
        "conv",
        [f32(1, 7, 6, 4), f32(3, 2, 2, 6), f32(6)],
        {"strides": [2, 1], "dilations": [1, 2], "groups": 2, "padding": "VALID"},
        T(
            lambda x, k, b: F.conv2d(
                x.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), b, (2, 1), 0, (1, 2), 2
            ).permute(0, 2, 3, 1)
        ),
        id="tensor-weights",
    ),
    Case(
        "depthwise_conv",
        [f32(1, 6, 6, 3), f32(3, 3, 3, 2), f32(6)],
        {"strides": [2, 2], "dilations": [2, 2], "padding": "VALID"},
        T(
            lambda x, k, b: F.conv2d(
                x.permute(0, 3, 1, 2), k.reshape(3, 3, 6, 1).permute(2, 3, 0, 1), b, 2, 0, 2, 3
            ).permute(0, 2, 3, 1)
        ),
        id="tensor-weights",
    ),
    Case(
        "dense",
        [f32(2, 3, 4), f32(4, 5), f32(5)],
        {},
        T(lambda x, k, b: x @ k + b),
        consts={2},
        id="tensor-weights",
    ),
    Case(
        "batch_norm",
        [X, f32(4), f32(4), f32(4), pos(4)],
        {"axis": 2, "epsilon": 1e-3},
        T(
            lambda x, g, b, m, v: F.batch_norm(x.transpose(1, 2), m, v, g, b, eps=1e-3).transpose(
                1, 2
            )
        ),
        consts={2, 3, 4},
        id="tensor-weights",
    ),
    Case(
        "layer_norm",
        [X, f32(3, 4), f32(3, 4)],
        {"axes": [1, 2], "epsilon": 1e-5},
        T(lambda x, g, b: F.layer_norm(x, (3, 4), g, b)),
        id="tensor-weights",
    ),
    Case(
        "embedding",
        [i32(2, 3, lo=0, hi=5), f32(5, 4)],
        {},
        T(lambda i, t: F.embedding(i, t)),
        id="tensor-weights",
    ),
    *[
        Case(
            "resize",
            [x],
            attrs,
            T(lambda x, kw=kw: F.interpolate(x.permute(0, 3, 1, 2), **kw).permute(0, 2, 3, 1)),
            id=name,
        )
        for name, x, attrs, kw in [
            # resize is channels-last: x is [N, H, W, C]; the reference runs on NCHW.
            (
                "bilinear",
                f32(1, 5, 6, 2),
                {"size": [8, 4], "method": "bilinear", "coordinate": "half_pixel"},
                {"size": (8, 4), "mode": "bilinear", "align_corners": False},
            ),
            (
                "align-corners",
                f32(1, 5, 6, 2),
                {"size": [9, 11], "method": "bilinear", "coordinate": "align_corners"},
                {"size": (9, 11), "mode": "bilinear", "align_corners": True},
            ),
            (
                "nearest-uint8",
                i32(1, 5, 6, 2, lo=0, hi=255).astype(np.uint8),
                {"size": [7, 3], "method": "nearest", "coordinate": "asymmetric"},
                {"size": (7, 3), "mode": "nearest"},
            ),
            (
                "nearest-exact-scale",
                f32(1, 5, 5, 2),
                {
                    "size": [8, 8],
                    "method": "nearest",
                    "coordinate": "half_pixel",
                    "scale": [1.7, 1.7],
                },
                {"scale_factor": 1.7, "mode": "nearest-exact"},
            ),
            (
                "bicubic",
                f32(1, 5, 6, 2),
                {"size": [8, 4], "method": "bicubic", "coordinate": "half_pixel"},
                {"size": (8, 4), "mode": "bicubic", "align_corners": False},
            ),
        ]
    ],
    # math and scans
    Case("atan2", [X, f32(4)], {}, T(torch.atan2)),
    Case("floor_mod", [FLOOR_A, FLOOR_B], {}, T(torch.remainder), id="edges"),
    Case("floor_mod", [i32(2, 3), i32(3, lo=1)], {}, T(torch.remainder), id="int"),
    Case("cumsum", [X], {"axis": 1}, T(lambda x: torch.cumsum(x, 1))),
    Case("reverse", [X], {"axes": [0, 2]}, T(lambda x: torch.flip(x, (0, 2)))),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}-{c.id}" if c.id else c.op for c in CASES])
def test_op_matches_reference(case: Case) -> None:
    expected = np.asarray(case.ref(*case.inputs))
    g = GraphMaker()
    operands = [
        g.const(x) if i in case.consts else g.input(x.shape, str(x.dtype))
        for i, x in enumerate(case.inputs)
    ]
    y = g.op(case.op, operands, expected.shape, str(expected.dtype), case.attrs, scope="m")
    build = build_keras_model(g.graph([y]))
    fed = [x for i, x in enumerate(case.inputs) if i not in case.consts]
    assert_close(run(build.model, fed), expected)


def _documented_ops() -> set[str]:
    doc = pathlib.Path(__file__).parents[3] / "docs" / "tf_ops.md"
    text = doc.read_text().split("## Operations", 1)[1]
    ops: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            ops |= set(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))
    return ops


def test_every_documented_op_is_tested_and_supported() -> None:
    documented = _documented_ops()
    assert len(documented) > 60
    # Tested in other files through the ops that make them, on the Keras back end too: gru,
    # lstm (ops/test_rnn.py), conv_transpose (ops/test_conv.py), gather, scatter_nd
    # (ops/test_index.py), top_k (ops/test_sort.py), grid_sample (ops/test_grid_sample.py),
    # group_norm (ops/test_norm.py), while and if (trace/test_control_flow.py: they need
    # bodies).
    tested = {c.op for c in CASES} | {"max_pool", "avg_pool", "user", "gru", "lstm"}
    tested |= {"conv_transpose", "gather", "scatter_nd", "top_k", "grid_sample", "group_norm"}
    tested |= {"while", "if"}
    assert documented - tested == set()
    assert documented - set(OPS) - set(NATIVE) == {"user", "while", "if"}
