"""Builds a Keras 3 functional model from a TF-level graph (docs/tf_ops.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from ferry.keras.control_flow import FerryIf, FerryWhile
from ferry.keras.layers import (
    ABSENT,
    CONST,
    INPUT,
    FerryConstant,
    FerryInputCheck,
    FerryOp,
    FerryUserOp,
    call_user,
    user_layer,
)
from ferry.keras.naming import LayerNames
from ferry.keras.native import NATIVE, state_inputs
from ferry.keras.ops import OPS
from ferry.tfgraph import TfGraph, TfNode

KerasTensor = keras.KerasTensor

# Keras' Dense rejects inputs below rank 2, while docs/tf_ops.md allows `dense` on any x
# [..., In] (nn.Linear on a 1-D tensor): such a node runs as Ferry's own op instead, whose
# TF implementation (nn_ops.dense) handles the vector case.
_NATIVE_MIN_RANK = {"dense": 2}

# Control flow: the layer and the roles of the functions it runs, in its order.
_BODIES = {"while": (FerryWhile, ("cond", "body")), "if": (FerryIf, ("then", "else"))}


@dataclass
class KerasBuild:
    model: keras.Model
    # TfValue id -> the symbolic tensor that computes it (inputs and every node output
    # that is not folded to a constant).
    tensors: dict[int, KerasTensor]


def build_keras_model(
    graph: TfGraph,
    user_callables: dict[int, Callable[..., Any]] | None = None,
    model_name: str = "ferry_model",
) -> KerasBuild:
    """The Keras model computing `graph`.

    Ops with a Keras layer and constant weights become that layer (weights in Keras order);
    other ops become `FerryOp` layers. A `user` op calls `user_callables[attrs["converter"]]`
    with its tensor arguments as one list; a callable that is a Keras layer (called with the
    tensors as positional arguments) or carries one in its `layer` attribute runs on the Keras
    tensors and adds its layers to the model unwrapped; any other callable runs inside a
    `FerryUserOp`. Nodes whose inputs are all constants are evaluated here. Outputs follow `graph.outputs`: one
    tensor for a single output, else a list, each through a layer named after its output
    name."""
    return _Builder(graph, user_callables or {}).build(model_name)


def _export_at_traced_size(model: keras.Model) -> None:
    """`model.export()` signs SavedModels with the batch dimension left free; the converted
    graph runs at the traced size only, so its signature says that size (an explicit
    `input_signature` still wins)."""
    export = model.export

    def export_traced(filepath: Any, format: str = "tf_saved_model", **kwargs: Any) -> Any:
        if format == "tf_saved_model" and kwargs.get("input_signature") is None:
            kwargs["input_signature"] = [
                tree.map_structure(
                    lambda t: tf.TensorSpec(t.shape, t.dtype, name=t.name), model._inputs_struct
                )
            ]
        return export(filepath, format=format, **kwargs)

    model.export = export_traced


def _plain(value: Any) -> Any:
    """Attribute values as JSON-able Python (the core may hand over numpy scalars)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _where(node: TfNode) -> str:
    return f"op {node.op!r} (node {node.id}, scope {node.scope!r})"


class _Builder:
    def __init__(self, graph: TfGraph, user_callables: dict[int, Callable[..., Any]]) -> None:
        self.graph = graph
        self.user_callables = user_callables
        self.names = LayerNames()
        self.tensors: dict[int, KerasTensor] = {}
        self.constants: dict[int, np.ndarray] = {
            vid: value.constant for vid, value in graph.values.items() if value.is_constant
        }
        self.constant_tensors: dict[int, KerasTensor] = {}
        self.anchor: KerasTensor | None = None
        # A user's layer keeps its own name: keep Ferry's names clear of it.
        for fn in user_callables.values():
            layer = user_layer(fn)
            if layer is not None:
                self.names.unique(layer.name)

    def build(self, model_name: str) -> KerasBuild:
        graph = self.graph
        inputs = [self._input(i, vid) for i, vid in enumerate(graph.inputs)]
        if not inputs:
            raise ValueError("a Keras model needs at least one input; the graph has none")
        self.anchor = inputs[0]
        for node in graph.nodes:
            self._node(node)
        outputs = [self._output(i, vid) for i, vid in enumerate(graph.outputs)]
        model = keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,
            outputs=outputs[0] if len(outputs) == 1 else outputs,
            name=model_name,
        )
        _export_at_traced_size(model)
        return KerasBuild(model, dict(self.tensors))

    def _input(self, i: int, vid: int) -> KerasTensor:
        value = self.graph.value(vid)
        names = self.graph.input_names
        name = names[i] if i < len(names) and names[i] else f"input_{i}"
        free = value.free or [False] * len(value.shape)
        shape = tuple(
            None if f or d is None or d < 0 else int(d) for d, f in zip(value.shape, free)
        )
        tensor = keras.Input(batch_shape=shape, dtype=value.dtype, name=self.names.unique(name))
        check = FerryInputCheck(shape, name, name=self.names.unique(f"{name}_shape_check"))
        self.tensors[vid] = check(tensor)
        return tensor

    def _output(self, i: int, vid: int) -> KerasTensor:
        names = self.graph.output_names
        name = self.names.unique(names[i] if i < len(names) and names[i] else f"output_{i}")
        if vid in self.tensors:
            # A layer per output gives each its name, and keeps outputs that are model
            # inputs, or repeats of another output, distinct tensors.
            return keras.layers.Identity(name=name, autocast=False)(self.tensors[vid])
        if vid in self.constants:
            return self._constant_layer(vid, name)
        raise ValueError(f"graph output {i} (value {vid}) is computed by no node")

    def _node(self, node: TfNode) -> None:
        if node.op not in NATIVE and node.op not in OPS and node.op not in ("user", *_BODIES):
            raise NotImplementedError(f"Ferry's Keras builder does not support {_where(node)}")
        present = [vid for vid in node.inputs if vid >= 0]
        missing = [v for v in present if v not in self.tensors and v not in self.constants]
        if missing:
            raise ValueError(f"{_where(node)} uses values {missing} that nothing computes")
        if all(vid in self.constants for vid in present) and node.op not in _BODIES:
            self._fold(node)
            return
        if node.op == "user":
            outputs = self._user(node)
        elif node.op in _BODIES:
            outputs = self._control_flow(node)
        elif node.op in NATIVE and self._has_constant_weights(node) and self._keras_accepts(node):
            outputs = self._native(node)
        else:
            outputs = self._ferry_op(node)
        self._record(node, outputs)

    def _has_constant_weights(self, node: TfNode) -> bool:
        states = state_inputs(node)
        return node.inputs[0] in self.tensors and all(
            vid < 0 or vid in self.constants
            for i, vid in enumerate(node.inputs)
            if i > 0 and i not in states
        )

    def _keras_accepts(self, node: TfNode) -> bool:
        rank = len(self.graph.value(node.inputs[0]).shape)
        return rank >= _NATIVE_MIN_RANK.get(node.op, 0)

    def _out_dtypes(self, node: TfNode) -> list[str]:
        return [self.graph.value(vid).dtype for vid in node.outputs]

    def _native(self, node: TfNode) -> list[KerasTensor]:
        x = self.graph.value(node.inputs[0])
        states = state_inputs(node)
        params = [
            self.constants[vid] if vid >= 0 and i + 1 not in states else None
            for i, vid in enumerate(node.inputs[1:])
        ]
        native = NATIVE[node.op](node, x, params, self.names.for_op(node.scope, node.op, True))
        initial = [self._symbolic(node.inputs[i], node) for i in states if node.inputs[i] >= 0]
        if initial:
            y = native.layer(self.tensors[x.id], initial_state=initial)
        else:
            y = native.layer(self.tensors[x.id])
        variables = native.layer.weights
        native.layer.set_weights(
            [np.asarray(w, dtype=v.dtype) for w, v in zip(native.weights, variables)]
        )
        if native.post_slice is not None:
            post = FerryOp(
                "slice",
                attrs=native.post_slice,
                operands=[INPUT],
                out_dtypes=self._out_dtypes(node),
                name=self.names.for_op(node.scope, "slice", False),
            )
            y = post([y])
        return list(y) if isinstance(y, (list, tuple)) else [y]  # RNNs return their states too

    def _operands(self, node: TfNode) -> tuple[list[str], list[np.ndarray], list[KerasTensor]]:
        kinds, constants, tensors = [], [], []
        for vid in node.inputs:
            if vid < 0:
                kinds.append(ABSENT)
            elif vid in self.constants:
                kinds.append(CONST)
                constants.append(np.asarray(self.constants[vid]))
            else:
                kinds.append(INPUT)
                tensors.append(self.tensors[vid])
        return kinds, constants, tensors

    def _operand_layer_kwargs(
        self, node: TfNode, kinds: list[str], constants: list[np.ndarray], op: str
    ) -> dict[str, Any]:
        return {
            "operands": kinds,
            "const_shapes": [list(c.shape) for c in constants],
            "const_dtypes": [str(c.dtype) for c in constants],
            "out_dtypes": self._out_dtypes(node),
            "name": self.names.for_op(node.scope, op, False),
        }

    def _ferry_op(self, node: TfNode) -> list[KerasTensor]:
        kinds, constants, tensors = self._operands(node)
        layer = FerryOp(
            node.op,
            attrs=_plain(node.attrs),
            **self._operand_layer_kwargs(node, kinds, constants, node.op),
        )
        y = layer(tensors)
        layer.set_constants(constants)
        return list(y) if isinstance(y, (list, tuple)) else [y]

    def _control_flow(self, node: TfNode) -> list[KerasTensor]:
        kinds, constants, tensors = self._operands(node)
        layer_class, roles = _BODIES[node.op]
        first, second = (
            _Builder(node.bodies[role], {})
            .build(self.names.for_op(node.scope, f"{node.op}_{role}", False))
            .model
            for role in roles
        )
        kwargs = self._operand_layer_kwargs(node, kinds, constants, node.op)
        layer = layer_class(first, second, **kwargs)
        y = layer(tensors)
        layer.set_constants(constants)
        return list(y) if isinstance(y, (list, tuple)) else [y]

    def _user_callable(self, node: TfNode) -> Callable[..., Any]:
        handle = node.attrs.get("converter")
        if handle not in self.user_callables:
            raise ValueError(f"{_where(node)}: no user callable registered for converter {handle}")
        return self.user_callables[handle]

    def _user(self, node: TfNode) -> list[KerasTensor]:
        fn = self._user_callable(node)
        if user_layer(fn) is not None:
            args = [None if vid < 0 else self._symbolic(vid, node) for vid in node.inputs]
            y = call_user(fn, args)
        else:
            kinds, constants, tensors = self._operands(node)
            layer = FerryUserOp(fn, **self._operand_layer_kwargs(node, kinds, constants, "user"))
            y = layer(tensors)
            layer.set_constants(constants)
        return list(y) if isinstance(y, (list, tuple)) else [y]

    def _symbolic(self, vid: int, node: TfNode) -> KerasTensor:
        if vid in self.tensors:
            return self.tensors[vid]
        if vid not in self.constant_tensors:
            name = self.names.for_op(node.scope, "constant", False)
            self.constant_tensors[vid] = self._constant_layer(vid, name)
        return self.constant_tensors[vid]

    def _constant_layer(self, vid: int, name: str) -> KerasTensor:
        value = np.asarray(self.constants[vid])
        layer = FerryConstant(list(value.shape), str(value.dtype), name=name)
        tensor = layer(self.anchor)
        layer.set_weights([value])
        return tensor

    def _fold(self, node: TfNode) -> None:
        args = [None if vid < 0 else tf.constant(self.constants[vid]) for vid in node.inputs]
        if node.op == "user":
            result = call_user(self._user_callable(node), args)
        else:
            result = OPS[node.op](args, _plain(node.attrs))
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        if len(results) != len(node.outputs):
            raise ValueError(
                f"{_where(node)} gave {len(results)} outputs, the graph has {len(node.outputs)}"
            )
        for vid, tensor in zip(node.outputs, results):
            dtype = self.graph.value(vid).dtype
            self.constants[vid] = tf.cast(tf.convert_to_tensor(tensor), dtype).numpy()

    def _record(self, node: TfNode, outputs: list[KerasTensor]) -> None:
        if len(outputs) != len(node.outputs):
            raise ValueError(
                f"{_where(node)} gave {len(outputs)} outputs, the graph has {len(node.outputs)}"
            )
        for vid, tensor in zip(node.outputs, outputs):
            value = self.graph.value(vid)
            shape = tuple(tensor.shape)
            dtype = keras.backend.standardize_dtype(tensor.dtype)
            agrees = len(shape) == len(value.shape) and all(
                a is None or b is None or b < 0 or a == b for a, b in zip(shape, value.shape)
            )
            # A disagreement is a bug in the lowering or in a user converter; stopping here
            # names the node, where a mismatch further down would not.
            if not agrees or dtype != value.dtype:
                raise ValueError(
                    f"{_where(node)} computes {dtype}{list(shape)} for value {vid}, "
                    f"the graph says {value.dtype}{list(value.shape)}"
                )
            self.tensors[vid] = tensor
