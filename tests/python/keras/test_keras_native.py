"""Ops that become native Keras layers: results against PyTorch, weights in Keras' order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from keras_graph_helpers import GraphMaker, assert_close, graph_layers, run

from ferry.keras import build_keras_model

rng = np.random.default_rng(1)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def channels_first(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.moveaxis(x, -1, 1).copy())


def channels_last(t: torch.Tensor) -> np.ndarray:
    return np.moveaxis(t.numpy(), 1, -1)


def tf_padding(sizes, kernel, strides, dilations, padding) -> list[int]:
    """TF's SAME padding as F.pad's list (last dimension first)."""
    pads: list[int] = []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        total = 0
        if padding == "SAME":
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads = [total // 2, total - total // 2] + pads
    return pads


def torch_conv(x, kernel, bias, strides, dilations, groups, padding) -> np.ndarray:
    rank = kernel.ndim - 2
    xt = channels_first(x)
    xt = F.pad(xt, tf_padding(x.shape[1:-1], kernel.shape[:-2], strides, dilations, padding))
    w = torch.from_numpy(np.transpose(kernel, (rank + 1, rank, *range(rank))).copy())
    b = None if bias is None else torch.from_numpy(bias)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    return channels_last(conv(xt, w, b, strides, 0, dilations, groups))


def one_node(op, x_shape, params, out_shape, attrs, x_dtype="float32", scope="net.layer"):
    g = GraphMaker()
    x = g.input(x_shape, x_dtype)
    inputs = [x] + [-1 if p is None else g.const(p) for p in params]
    y = g.op(op, inputs, out_shape, "float32", attrs, scope=scope)
    return build_keras_model(g.graph([y]))


CONV_CASES = [
    # spatial size, kernel, strides, dilations, groups, padding, bias
    ((9,), (3,), (1,), (1,), 1, "VALID", True),
    ((10,), (3,), (2,), (1,), 2, "SAME", True),
    ((9, 8), (3, 3), (1, 1), (1, 1), 1, "VALID", True),
    ((9, 8), (3, 2), (2, 2), (1, 1), 1, "SAME", False),
    ((9, 8), (3, 3), (1, 1), (2, 2), 1, "SAME", True),
    ((9, 8), (3, 3), (1, 1), (1, 1), 4, "VALID", True),  # grouped
    ((11, 10), (3, 3), (2, 2), (2, 2), 2, "SAME", True),  # strided and dilated
    ((11, 10), (3, 2), (2, 1), (1, 3), 1, "VALID", True),
    ((6, 5, 7), (3, 2, 3), (1, 1, 1), (1, 1, 1), 1, "VALID", True),
    ((6, 5, 7), (3, 3, 3), (2, 1, 2), (1, 1, 1), 2, "SAME", True),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_conv(case) -> None:
    sizes, k, strides, dilations, groups, padding, with_bias = case
    cin, cout = 8, 12
    x = f32(2, *sizes, cin)
    kernel = f32(*k, cin // groups, cout)
    bias = f32(cout) if with_bias else None
    expected = torch_conv(x, kernel, bias, strides, dilations, groups, padding)
    attrs = {
        "strides": list(strides),
        "dilations": list(dilations),
        "groups": groups,
        "padding": padding,
    }
    build = one_node("conv", x.shape, [kernel, bias], expected.shape, attrs)
    assert_close(run(build.model, [x]), expected)
    layer = build.model.get_layer("net.layer")
    assert type(layer).__name__ == f"Conv{len(sizes)}D"
    weights = layer.get_weights()
    assert len(weights) == (2 if with_bias else 1)
    np.testing.assert_array_equal(weights[0], kernel)
    if with_bias:
        np.testing.assert_array_equal(weights[1], bias)


DEPTHWISE_CASES = [
    # spatial size, kernel, strides, dilations, multiplier, padding
    ((9,), (3,), (1,), (1,), 2, "VALID"),
    ((9, 8), (3, 3), (1, 1), (1, 1), 1, "SAME"),
    ((9, 8), (3, 3), (2, 2), (1, 1), 2, "VALID"),
    ((11, 10), (3, 3), (2, 2), (2, 2), 2, "VALID"),
    ((11, 10), (3, 3), (2, 2), (2, 2), 1, "SAME"),
    ((6, 5, 7), (3, 2, 3), (1, 2, 1), (1, 1, 1), 2, "VALID"),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=[str(c) for c in DEPTHWISE_CASES])
def test_depthwise_conv(case) -> None:
    sizes, k, strides, dilations, multiplier, padding = case
    c = 3
    x = f32(2, *sizes, c)
    kernel = f32(*k, c, multiplier)
    bias = f32(c * multiplier)
    # The depthwise kernel [*k, C, M] is the grouped kernel [*k, 1, C*M].
    grouped = kernel.reshape(*k, 1, c * multiplier)
    expected = torch_conv(x, grouped, bias, strides, dilations, c, padding)
    attrs = {"strides": list(strides), "dilations": list(dilations), "padding": padding}
    build = one_node("depthwise_conv", x.shape, [kernel, bias], expected.shape, attrs)
    assert_close(run(build.model, [x]), expected)
    layer = build.model.get_layer("net.layer")
    weights = layer.get_weights()
    if len(sizes) == 3:
        assert type(layer).__name__ == "Conv3D" and layer.groups == c
        np.testing.assert_array_equal(weights[0], grouped)
    else:
        assert type(layer).__name__ == f"DepthwiseConv{len(sizes)}D"
        np.testing.assert_array_equal(weights[0], kernel)
    np.testing.assert_array_equal(weights[1], bias)


@pytest.mark.parametrize("with_bias", [True, False])
def test_dense_on_nd_input(with_bias: bool) -> None:
    x, kernel = f32(2, 3, 4, 5), f32(5, 7)
    bias = f32(7) if with_bias else None
    expected = x @ kernel + (bias if with_bias else 0)
    build = one_node("dense", x.shape, [kernel, bias], expected.shape, {})
    assert_close(run(build.model, [x]), expected)
    layer = build.model.get_layer("net.layer")
    assert type(layer).__name__ == "Dense"
    assert [w.shape for w in layer.get_weights()] == ([(5, 7), (7,)] if with_bias else [(5, 7)])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


@pytest.mark.parametrize("axis,affine", [(-1, True), (1, True), (3, False)])
def test_batch_norm(axis: int, affine: bool) -> None:
    x = f32(2, 5, 6, 4)
    c = x.shape[axis]
    gamma, beta = (f32(c), f32(c)) if affine else (None, None)
    mean, var = f32(c), rng.uniform(0.5, 2, c).astype(np.float32)
    moved = torch.from_numpy(np.moveaxis(x, axis, 1).copy())
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    ref = F.batch_norm(moved, t(mean), t(var), t(gamma), t(beta), eps=1e-3)
    expected = np.moveaxis(ref.numpy(), 1, axis)
    build = one_node(
        "batch_norm", x.shape, [gamma, beta, mean, var], x.shape, {"axis": axis, "epsilon": 1e-3}
    )
    assert_close(run(build.model, [x]), expected)
    layer = build.model.get_layer("net.layer")
    assert type(layer).__name__ == "BatchNormalization"
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    want = [gamma if affine else ones, beta if affine else zeros, mean, var]
    for got, w in zip(layer.get_weights(), want, strict=True):
        np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize("axes,affine", [([2], True), ([1, 2], True), ([2], False)])
def test_layer_norm(axes: list[int], affine: bool) -> None:
    x = f32(2, 3, 8)
    shape = tuple(x.shape[a] for a in axes)
    gamma, beta = (f32(*shape), f32(*shape)) if affine else (None, None)
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    expected = F.layer_norm(torch.from_numpy(x), shape, t(gamma), t(beta), 1e-5).numpy()
    build = one_node("layer_norm", x.shape, [gamma, beta], x.shape, {"axes": axes, "epsilon": 1e-5})
    assert_close(run(build.model, [x]), expected)
    layer = build.model.get_layer("net.layer")
    assert type(layer).__name__ == "LayerNormalization"
    weights = layer.get_weights()
    assert len(weights) == (2 if affine else 0)
    if affine:
        np.testing.assert_array_equal(weights[0], gamma)
        np.testing.assert_array_equal(weights[1], beta)


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_embedding(index_dtype: str) -> None:
    table = f32(10, 4)
    idx = rng.integers(0, 10, (2, 5)).astype(index_dtype)
    expected = F.embedding(torch.from_numpy(idx), torch.from_numpy(table)).numpy()
    build = one_node("embedding", idx.shape, [table], expected.shape, {}, x_dtype=index_dtype)
    assert_close(run(build.model, [idx]), expected)
    layer = build.model.get_layer("net.layer")
    assert type(layer).__name__ == "Embedding"
    np.testing.assert_array_equal(layer.get_weights()[0], table)


POOL_CASES = [
    ("max_pool", (9,), (2,), (2,)),
    ("max_pool", (9, 8), (3, 3), (2, 2)),
    ("max_pool", (6, 6, 5), (2, 2, 2), (2, 1, 2)),
    ("avg_pool", (9,), (3,), (1,)),
    ("avg_pool", (9, 8), (2, 3), (2, 1)),
    ("avg_pool", (6, 6, 5), (2, 2, 2), (2, 2, 2)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c) for c in POOL_CASES])
def test_pooling(case) -> None:
    op, sizes, pool, strides = case
    x = f32(2, *sizes, 3)
    fn = getattr(F, f"{op}{len(sizes)}d")
    expected = channels_last(fn(channels_first(x), pool, strides))
    attrs = {"pool_size": list(pool), "strides": list(strides), "padding": "VALID"}
    build = one_node(op, x.shape, [], expected.shape, attrs)
    assert_close(run(build.model, [x]), expected)
    kind = "MaxPooling" if op == "max_pool" else "AveragePooling"
    assert type(build.model.get_layer("net.layer")).__name__ == f"{kind}{len(sizes)}D"


def test_max_pool_with_explicit_padding() -> None:
    # The core lowers PyTorch's padding as a -inf pad before a VALID max_pool.
    x = f32(2, 7, 7, 3)
    expected = channels_last(F.max_pool2d(channels_first(x), 3, 2, padding=1))
    g = GraphMaker()
    xi = g.input(x.shape)
    p = g.op(
        "pad",
        [xi],
        (2, 9, 9, 3),
        attrs={"pads": [0, 0, 1, 1, 1, 1, 0, 0], "mode": "CONSTANT", "value": float("-inf")},
        scope="pool",
    )
    y = g.op(
        "max_pool",
        [p],
        expected.shape,
        attrs={"pool_size": [3, 3], "strides": [2, 2], "padding": "VALID"},
        scope="pool",
    )
    build = build_keras_model(g.graph([y]))
    assert_close(run(build.model, [x]), expected)
    assert [layer.name for layer in graph_layers(build.model)[1:-1]] == ["pool.pad", "pool"]
