"""Ferry's own Keras layers: one TF-level op, a user converter's callable, a constant.

Constant operands live in non-trainable weights (never in the config), created in `build()`
in operand order so that `.keras` files and SavedModels restore them by position.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ferry.keras.ops import OPS

INPUT, CONST, ABSENT = "input", "const", "absent"


class _OperandLayer(keras.layers.Layer):
    """Interleaves the layer's tensor inputs with its constant weights in operand order.

    `operands` holds one kind per operand: INPUT (the next tensor the layer is called with),
    CONST (the next weight) or ABSENT (an optional input left out, passed as None)."""

    def __init__(
        self,
        operands: Sequence[str],
        const_shapes: Sequence[Sequence[int]] = (),
        const_dtypes: Sequence[str] = (),
        out_dtypes: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        # Autocasting would convert float inputs to the layer's dtype (float32), which breaks
        # float64/float16 graphs and `cast`: every op keeps the dtypes it is given.
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.operands = [str(kind) for kind in operands]
        unknown = set(self.operands) - {INPUT, CONST, ABSENT}
        if unknown:
            raise ValueError(f"{self.name}: unknown operand kinds {sorted(unknown)}")
        self.const_shapes = [[int(d) for d in shape] for shape in const_shapes]
        self.const_dtypes = [str(dtype) for dtype in const_dtypes]
        if len(self.const_shapes) != self.operands.count(CONST) or len(self.const_dtypes) != len(
            self.const_shapes
        ):
            raise ValueError(f"{self.name}: constant shapes/dtypes do not match the operands")
        self.out_dtypes = [str(dtype) for dtype in out_dtypes]
        self.constants: list[keras.Variable] = []

    def build(self, input_shape: Any = None) -> None:
        self.constants = [
            self.add_weight(
                name=f"const_{j}",
                shape=tuple(shape),
                dtype=dtype,
                initializer="zeros",
                trainable=False,
            )
            for j, (shape, dtype) in enumerate(zip(self.const_shapes, self.const_dtypes))
        ]

    def _operand_tensors(self, inputs: Any) -> list[tf.Tensor | None]:
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(tensors) != self.operands.count(INPUT):
            raise ValueError(
                f"{self.name}: called with {len(tensors)} tensors, "
                f"expects {self.operands.count(INPUT)}"
            )
        next_input, next_const = iter(tensors), iter(self.constants)
        result: list[tf.Tensor | None] = []
        for kind in self.operands:
            if kind == INPUT:
                result.append(next(next_input))
            elif kind == CONST:
                result.append(tf.convert_to_tensor(next(next_const).value))
            else:
                result.append(None)
        return result

    def _finish(self, result: Any) -> tf.Tensor | list[tf.Tensor]:
        # The graph's dtypes are the contract; TF's own result types can differ from
        # PyTorch's (integer sums, true division), and downstream ops rely on the graph's.
        outputs = list(result) if isinstance(result, (list, tuple)) else [result]
        if self.out_dtypes and len(outputs) != len(self.out_dtypes):
            raise ValueError(
                f"{self.name}: produced {len(outputs)} outputs, the graph has "
                f"{len(self.out_dtypes)}"
            )
        for i, dtype in enumerate(self.out_dtypes):
            outputs[i] = tf.convert_to_tensor(outputs[i])
            if outputs[i].dtype != tf.as_dtype(dtype):
                outputs[i] = tf.cast(outputs[i], dtype)
        return outputs[0] if len(outputs) == 1 else outputs

    def set_constants(self, values: Sequence[np.ndarray]) -> None:
        # Only the layer's own constants: a user layer also tracks the layers it calls.
        for variable, value, dtype in zip(self.constants, values, self.const_dtypes):
            variable.assign(np.asarray(value, dtype=dtype))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "operands": list(self.operands),
            "const_shapes": [list(shape) for shape in self.const_shapes],
            "const_dtypes": list(self.const_dtypes),
            "out_dtypes": list(self.out_dtypes),
        }


@keras.saving.register_keras_serializable(package="ferry")
class FerryOp(_OperandLayer):
    """Runs one op of docs/tf_ops.md by name (its TF implementation is in `ops.py`)."""

    def __init__(self, op: str, attrs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if op not in OPS:
            raise NotImplementedError(f"{self.name}: Ferry has no TF implementation of op {op!r}")
        self.op = op
        self.attrs = dict(attrs or {})

    def call(self, inputs: Any) -> tf.Tensor | list[tf.Tensor]:
        return self._finish(OPS[self.op](self._operand_tensors(inputs), self.attrs))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "op": self.op, "attrs": dict(self.attrs)}


def user_layer(fn: Any) -> keras.layers.Layer | None:
    """The Keras layer behind a user callable: the callable itself, or its `layer` attribute
    (a wrapper that maps the tensors back into the PyTorch call's arguments keeps the layer
    the converter returned there). Such callables run on Keras tensors directly."""
    if isinstance(fn, keras.layers.Layer):
        return fn
    layer = getattr(fn, "layer", None)
    return layer if isinstance(layer, keras.layers.Layer) else None


def call_user(fn: Callable[..., Any], tensors: list[Any]) -> Any:
    """User callables take the call's tensor arguments as one list, in order; a Keras layer
    given as the callable itself takes them as positional arguments, as layers do."""
    if isinstance(fn, keras.layers.Layer):
        return fn(*tensors)
    return fn(tensors)


def callable_name(fn: Callable[..., Any]) -> str:
    inner = getattr(fn, "__wrapped__", None) or getattr(fn, "fn", None)
    if callable(inner):
        fn = inner
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}" if module else name


def captured_layers(fn: Any) -> list[keras.layers.Layer]:
    """The Keras layers a converter's callable closes over (`lambda x: conv(x)`, nobuco's
    fusion example), found in its closure, defaults and bound object."""
    found: dict[int, keras.layers.Layer] = {}
    pending, seen = [fn], set()
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, keras.layers.Layer):
            found.setdefault(id(obj), obj)
            continue
        inner = getattr(obj, "fn", None)  # the API's wrapper around the user's callable
        if callable(inner):
            pending.append(inner)
        pending.append(getattr(obj, "__self__", None))
        for cell in getattr(obj, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                pending.append(cell.cell_contents)
        pending.extend(getattr(obj, "__defaults__", None) or ())
    return list(found.values())


@keras.saving.register_keras_serializable(package="ferry")
class FerryUserOp(_OperandLayer):
    """Runs the TF callable a user converter returned on the call's tensor arguments (given
    to it as one list, see `call_user`).

    A Python callable cannot be restored from a file, so only its name is saved and loading
    fails with an explanation. (A converter that returns a Keras layer is used as that
    layer, without this wrapper, and loads like any custom Keras layer.)"""

    def __init__(
        self, fn: Callable[..., Any] | None = None, callable: str = "", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if fn is None:
            raise ValueError(
                f"Cannot restore layer {self.name!r}: it runs the Python callable "
                f"{callable or '<unknown>'!r} that a user converter returned, and callables "
                "are not saved with the model. Convert the PyTorch model again with the same "
                "user converters to rebuild it, or make the converter return a "
                "keras.layers.Layer (registered as serializable) so that it can be saved."
            )
        self.fn = fn
        self.callable = callable or callable_name(fn)
        # Tracked, so their weights belong to the model (count_params, save_weights).
        self.captured_layers = captured_layers(fn)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FerryUserOp:
        return cls(fn=None, **config)

    def call(self, inputs: Any) -> tf.Tensor | list[tf.Tensor]:
        return self._finish(call_user(self.fn, self._operand_tensors(inputs)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "callable": self.callable}


@keras.saving.register_keras_serializable(package="ferry")
class FerryConstant(keras.layers.Layer):
    """A constant as a symbolic tensor (a constant model output, a constant argument of a
    user layer). Keras tensors must descend from the model inputs, so the layer is called
    on one of them and ignores its value."""

    def __init__(self, shape: Sequence[int], dtype_name: str, **kwargs: Any) -> None:
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.const_shape = [int(d) for d in shape]
        self.dtype_name = str(dtype_name)

    def build(self, input_shape: Any = None) -> None:
        self.value = self.add_weight(
            name="value",
            shape=tuple(self.const_shape),
            dtype=self.dtype_name,
            initializer="zeros",
            trainable=False,
        )

    def call(self, anchor: Any) -> tf.Tensor:
        return tf.identity(tf.convert_to_tensor(self.value.value))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "shape": list(self.const_shape),
            "dtype_name": self.dtype_name,
        }


@keras.saving.register_keras_serializable(package="ferry")
class FerryInputCheck(keras.layers.Layer):
    """Stops a call whose input does not have the converted shape, at the input, with a
    message: the graph was converted at one size (the traced batch included), and another
    size would otherwise fail deep inside some reshape."""

    def __init__(self, expected: Sequence[int | None], input_name: str, **kwargs: Any) -> None:
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.expected = [None if d is None else int(d) for d in expected]
        self.input_name = str(input_name)

    def _message(self, got: Any) -> str:
        return (
            f"ferry: input '{self.input_name}' has shape {tuple(got)}, but this model was "
            f"converted for {tuple(self.expected)}: a converted model runs at the traced size "
            "(batch included); convert again with an example input of the size you need"
        )

    def call(self, x: tf.Tensor) -> tf.Tensor:
        static = list(x.shape)
        if len(static) != len(self.expected) or any(
            s is not None and e is not None and s != e for s, e in zip(static, self.expected)
        ):
            raise ValueError(self._message(static))
        if all(s is not None for s in static):
            return x
        expected = [-1 if e is None else e for e in self.expected]
        # Dims unknown while tracing a function (predict's batches): checked when it runs.
        fits = tf.reduce_all((tf.shape(x) == expected) | (tf.constant(expected) < 0))
        with tf.control_dependencies(
            [tf.debugging.Assert(fits, [self._message(["?"] * len(static)), tf.shape(x)])]
        ):
            return tf.identity(x)

    def compute_output_spec(self, x: Any) -> Any:
        return keras.KerasTensor(x.shape, dtype=x.dtype)  # any dtype, unchanged

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "expected": self.expected, "input_name": self.input_name}
