"""Whole models: saving and loading, outputs, naming, user converters, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from keras_graph_helpers import GraphMaker, assert_close, graph_layers, run

from ferry.keras import FerryOp, FerryUserOp, build_keras_model

rng = np.random.default_rng(2)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def small_cnn() -> tuple[GraphMaker, int, dict[str, np.ndarray]]:
    """conv -> batch_norm -> relu -> add constant -> mean, in PyTorch's module scopes."""
    w = {
        "kernel": f32(3, 3, 3, 8),
        "bias": f32(8),
        "gamma": f32(8),
        "beta": f32(8),
        "mean": f32(8),
        "var": rng.uniform(0.5, 2.0, 8).astype(np.float32),
        "shift": f32(8),
    }
    g = GraphMaker()
    x = g.input((2, 10, 10, 3), name="image")
    conv_attrs = {"strides": [1, 1], "dilations": [1, 1], "groups": 1, "padding": "SAME"}
    c = g.op(
        "conv",
        [x, g.const(w["kernel"]), g.const(w["bias"])],
        (2, 10, 10, 8),
        attrs=conv_attrs,
        scope="features.0",
    )
    b = g.op(
        "batch_norm",
        [c, *(g.const(w[k]) for k in ("gamma", "beta", "mean", "var"))],
        (2, 10, 10, 8),
        attrs={"axis": 3, "epsilon": 1e-5},
        scope="features.1",
    )
    r = g.op("relu", [b], (2, 10, 10, 8), scope="features.2")
    a = g.op("add", [r, g.const(w["shift"])], (2, 10, 10, 8))
    m = g.op("mean", [a], (2, 8), attrs={"axes": [1, 2], "keepdims": False})
    return g, m, w


def small_cnn_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    t = {k: torch.from_numpy(v) for k, v in w.items()}
    y = F.conv2d(
        torch.from_numpy(x).permute(0, 3, 1, 2),
        t["kernel"].permute(3, 2, 0, 1),
        t["bias"],
        padding=1,
    )
    y = F.batch_norm(y, t["mean"], t["var"], t["gamma"], t["beta"], eps=1e-5).relu()
    return (y + t["shift"][:, None, None]).mean((2, 3)).numpy()


def test_small_model_saves_loads_and_exports(tmp_path) -> None:
    g, m, w = small_cnn()
    build = build_keras_model(g.graph([m], ["logits"]))
    x = f32(2, 10, 10, 3)
    expected = small_cnn_reference(x, w)
    assert_close(run(build.model, [x]), expected)
    assert [layer.name for layer in graph_layers(build.model)] == [
        "image",
        "features.0",
        "features.1",
        "features.2.relu",
        "add",
        "mean",
        "logits",
    ]

    build.model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # safe mode
    assert_close(run(loaded, [x]), expected)
    assert [layer.name for layer in graph_layers(loaded)] == [
        layer.name for layer in graph_layers(build.model)
    ]

    build.model.export(str(tmp_path / "saved"), verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    assert_close(np.asarray(restored.serve(tf.constant(x))), expected)


def test_constants_of_every_kind_survive_saving(tmp_path) -> None:
    g = GraphMaker()
    x = g.input((2, 3), "float64")
    cond = g.const(rng.random((2, 3)) > 0.5)
    where = g.op("where", [cond, x, g.const(np.array(-1.0))], (2, 3), "float64")
    padded = g.op(
        "pad",
        [where],
        (2, 5),
        "float64",
        {"pads": [0, 0, 1, 1], "mode": "CONSTANT", "value": float("-inf")},
    )
    count = g.op(
        "add",
        [
            g.op("cast", [x], (2, 3), "int64", {"dtype": "int64"}),
            g.const(np.arange(3, dtype=np.int64)),
        ],
        (2, 3),
        "int64",
    )
    build = build_keras_model(g.graph([padded, count]))
    xv = rng.standard_normal((2, 3))
    before = run(build.model, [xv])
    assert before[0].dtype == np.float64 and before[1].dtype == np.int64
    assert np.isneginf(before[0][:, 0]).all()
    build.model.save(tmp_path / "m.keras")
    after = run(keras.models.load_model(tmp_path / "m.keras"), [xv])
    for a, b in zip(after, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_outputs_repeated_input_and_constant() -> None:
    g = GraphMaker()
    x = g.input((2, 4), name="x")
    y = g.op("neg", [x], (2, 4), scope="head")
    const = g.const(np.arange(3, dtype=np.float32))
    graph = g.graph([y, y, x, const], ["a", "b", "passthrough", "c"])
    build = build_keras_model(graph)
    assert build.model.output_names == ["a", "b", "passthrough", "c"]
    xv = f32(2, 4)
    a, b, p, c = run(build.model, [xv])
    assert_close(a, -xv)
    assert_close(b, -xv)
    assert_close(p, xv)
    assert_close(c, np.arange(3, dtype=np.float32))
    assert set(build.tensors) == {x, y}


def test_single_output_is_a_tensor_and_inputs_keep_names() -> None:
    g = GraphMaker()
    a = g.input((3, 2), name="left")
    b = g.input((3, 2), name="right")
    s = g.op("mul", [a, b], (3, 2))
    build = build_keras_model(g.graph([s]), model_name="pair")
    assert build.model.name == "pair"
    assert [t.name for t in build.model.inputs] == ["left", "right"]
    out = build.model([f32(3, 2), f32(3, 2)])
    assert not isinstance(out, (list, tuple))


def test_dynamic_batch() -> None:
    g = GraphMaker()
    x = g.input((-1, 4))
    kernel = f32(4, 2)
    y = g.op("dense", [x, g.const(kernel)], (-1, 2), scope="fc")
    z = g.op("softmax", [y], (-1, 2), attrs={"axis": -1})
    build = build_keras_model(g.graph([z]))
    for batch in (1, 5):
        xv = f32(batch, 4)
        expected = torch.softmax(torch.from_numpy(xv @ kernel), -1).numpy()
        assert_close(run(build.model, [xv]), expected)


def test_unknown_op_names_op_and_scope() -> None:
    g = GraphMaker()
    x = g.input((2,))
    y = g.op("frobnicate", [x], (2,), scope="blocks.3.mixer")
    with pytest.raises(NotImplementedError, match=r"'frobnicate'.*'blocks\.3\.mixer'"):
        build_keras_model(g.graph([y]))


def test_shape_disagreement_is_reported() -> None:
    g = GraphMaker()
    x = g.input((2, 3))
    y = g.op("transpose", [x], (2, 3), attrs={"perm": [1, 0]}, scope="t")
    with pytest.raises(ValueError, match=r"'transpose'.*\[3, 2\].*\[2, 3\]"):
        build_keras_model(g.graph([y]))


def test_constant_subgraphs_are_folded() -> None:
    g = GraphMaker()
    x = g.input((3,))
    c = g.op("exp", [g.const(np.zeros(3, np.float32))], (3,))
    y = g.op("add", [x, c], (3,))
    build = build_keras_model(g.graph([y]))
    assert [type(layer).__name__ for layer in graph_layers(build.model)] == [
        "InputLayer",
        "FerryOp",
        "Identity",
    ]
    assert_close(run(build.model, [np.zeros(3, np.float32)]), np.ones(3, np.float32))


def test_user_callable(tmp_path) -> None:
    g = GraphMaker()
    x = g.input((2, 5))
    lo = g.const(np.array(-0.5, np.float32))
    y = g.op("user", [x, lo], (2, 5), attrs={"converter": 7}, scope="act")
    build = build_keras_model(
        g.graph([y]), user_callables={7: lambda ts: tf.clip_by_value(ts[0], ts[1], 0.5)}
    )
    xv = f32(2, 5)
    assert_close(run(build.model, [xv]), np.clip(xv, -0.5, 0.5))
    layer = build.model.get_layer("act.user")
    assert isinstance(layer, FerryUserOp) and "lambda" in layer.get_config()["callable"]
    build.model.save(tmp_path / "m.keras")
    with pytest.raises(Exception, match="Convert the PyTorch model again"):
        keras.models.load_model(tmp_path / "m.keras")


def test_user_keras_layer_is_used_directly(tmp_path) -> None:
    g = GraphMaker()
    x = g.input((2, 5))
    y = g.op("user", [x], (2, 5), attrs={"converter": 0}, scope="act")
    relu = keras.layers.ReLU(max_value=0.5, name="my_relu")
    build = build_keras_model(g.graph([y]), user_callables={0: relu})
    assert build.model.get_layer("my_relu") is relu
    assert not any(isinstance(layer, FerryUserOp) for layer in build.model.layers)
    xv = f32(2, 5)
    assert_close(run(build.model, [xv]), np.clip(xv, 0, 0.5))
    build.model.save(tmp_path / "m.keras")
    assert_close(run(keras.models.load_model(tmp_path / "m.keras"), [xv]), np.clip(xv, 0, 0.5))


def test_layer_names_follow_scopes_and_are_sanitised() -> None:
    def make():
        g = GraphMaker()
        x = g.input((1, 6, 6, 2), name="in/put")
        conv = {"strides": [1, 1], "dilations": [1, 1], "groups": 1, "padding": "VALID"}
        pad = {"pads": [0, 0, 1, 1, 1, 1, 0, 0], "mode": "CONSTANT", "value": 0.0}
        k = g.const(f32(3, 3, 2, 2))
        p = g.op("pad", [x], (1, 8, 8, 2), attrs=pad, scope="enc/block.conv")
        c = g.op("conv", [p, k, -1], (1, 6, 6, 2), attrs=conv, scope="enc/block.conv")
        r1 = g.op("relu", [c], (1, 6, 6, 2), scope="enc/block.conv")
        r2 = g.op("relu", [r1], (1, 6, 6, 2), scope="enc/block.conv")
        c2 = g.op("conv", [r2, k, -1], (1, 4, 4, 2), attrs={**conv}, scope="enc/block.conv")
        s = g.op("relu", [c2], (1, 4, 4, 2), scope="_orig_mod.act")
        t = g.op("relu", [s], (1, 4, 4, 2))
        return build_keras_model(g.graph([t], ["out:0"]))

    names = [layer.name for layer in graph_layers(make().model)]
    assert names == [
        "in_put",
        "enc_block.conv.pad",
        "enc_block.conv",
        "enc_block.conv.relu",
        "enc_block.conv.relu_1",
        "enc_block.conv.conv",
        "orig_mod.act.relu",
        "relu",
        "out_0",
    ]
    assert [layer.name for layer in graph_layers(make().model)] == names
    assert all(isinstance(layer, FerryOp) for layer in graph_layers(make().model)[6:8])


class _ArgumentsWrapper:
    """Like the API's wrapper: maps the tensor list into the PyTorch call's arguments."""

    def __init__(self, layer: keras.layers.Layer, scale: float) -> None:
        self.layer, self.scale = layer, scale

    def __call__(self, tensors: list) -> object:
        return self.layer(tensors[0], scale=self.scale)


@keras.saving.register_keras_serializable(package="ferry_tests")
class _Scale(keras.layers.Layer):
    def call(self, x, scale=1.0):
        return x * scale


def test_wrapped_user_layer_is_used_directly(tmp_path) -> None:
    g = GraphMaker()
    x = g.input((2, 3))
    y = g.op("user", [x], (2, 3), attrs={"converter": 1}, scope="scaler")
    z = g.op("user", [y], (2, 3), attrs={"converter": 1}, scope="scaler")
    scale = _Scale(name="scale")
    build = build_keras_model(g.graph([z]), user_callables={1: _ArgumentsWrapper(scale, 3.0)})
    assert [layer.name for layer in graph_layers(build.model)] == ["x0", "scale", "out0"]
    xv = f32(2, 3)
    assert_close(run(build.model, [xv]), xv * 9)
    build.model.save(tmp_path / "m.keras")
    assert_close(run(keras.models.load_model(tmp_path / "m.keras"), [xv]), xv * 9)
