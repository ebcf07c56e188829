"""Hand-made TF-level graphs for the Keras builder tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ferry.tfgraph import TfGraph, TfNode, TfValue


class GraphMaker:
    """Adds values and nodes in order; `graph()` closes the graph over chosen outputs."""

    def __init__(self) -> None:
        self.values: dict[int, TfValue] = {}
        self.nodes: list[TfNode] = []
        self.inputs: list[int] = []
        self.input_names: list[str] = []

    def _value(self, shape: Any, dtype: str, constant: np.ndarray | None = None) -> int:
        vid = len(self.values)
        shape = [int(d) for d in shape]
        self.values[vid] = TfValue(vid, dtype, shape, list(range(len(shape))), constant, f"v{vid}")
        return vid

    def input(self, shape: Any, dtype: str = "float32", name: str | None = None) -> int:
        vid = self._value(shape, dtype)
        self.inputs.append(vid)
        self.input_names.append(name or f"x{len(self.inputs) - 1}")
        return vid

    def const(self, array: Any) -> int:
        array = np.asarray(array)
        return self._value(array.shape, str(array.dtype), array)

    def op(
        self,
        op: str,
        inputs: list[int],
        shape: Any,
        dtype: str = "float32",
        attrs: dict[str, Any] | None = None,
        scope: str = "",
    ) -> int:
        return self.op_multi(op, inputs, [(shape, dtype)], attrs, scope)[0]

    def op_multi(
        self,
        op: str,
        inputs: list[int],
        outputs: list[tuple[Any, str]],
        attrs: dict[str, Any] | None = None,
        scope: str = "",
    ) -> list[int]:
        out = [self._value(shape, dtype) for shape, dtype in outputs]
        self.nodes.append(TfNode(len(self.nodes), op, list(inputs), out, dict(attrs or {}), scope))
        return out

    def graph(self, outputs: list[int], output_names: list[str] | None = None) -> TfGraph:
        names = output_names or [f"out{i}" for i in range(len(outputs))]
        return TfGraph(self.values, self.nodes, self.inputs, outputs, self.input_names, names)


def to_torch(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


def run(model: Any, inputs: list[np.ndarray]) -> Any:
    y = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    if isinstance(y, (list, tuple)):
        return [np.asarray(t) for t in y]
    return np.asarray(y)


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: float = 1e-5) -> None:
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if expected.dtype == bool or np.issubdtype(expected.dtype, np.integer):
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def graph_layers(model: Any) -> list[Any]:
    """The model's layers less the input checks every converted model starts with."""
    return [layer for layer in model.layers if type(layer).__name__ != "FerryInputCheck"]
