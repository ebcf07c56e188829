"""Control flow in Keras: a loop or a branch whose functions are Keras models of their own."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ferry.keras.layers import _OperandLayer


def _call(model: keras.Model, values: tuple[tf.Tensor, ...]) -> list[tf.Tensor]:
    out = model(values[0] if len(values) == 1 else list(values))
    return list(out) if isinstance(out, (list, tuple)) else [out]


class _BodiesLayer(_OperandLayer):
    """An op that runs two Keras models (kept in `.keras` files with the layer)."""

    def __init__(self, first: keras.Model, second: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first = first
        self.second = second

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "first": keras.saving.serialize_keras_object(self.first),
            "second": keras.saving.serialize_keras_object(self.second),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _BodiesLayer:
        config = dict(config)
        first = keras.saving.deserialize_keras_object(config.pop("first"))
        second = keras.saving.deserialize_keras_object(config.pop("second"))
        return cls(first, second, **config)


@keras.saving.register_keras_serializable(package="ferry")
class FerryIf(_BodiesLayer):
    """An `if` node: its first operand is the predicate; `first` (then) or `second` (else)
    runs on the others. Both return every output."""

    def call(self, inputs: Any) -> tf.Tensor | list[tf.Tensor]:
        pred, *values = self._operand_tensors(inputs)
        operands = tuple(values)
        return self._finish(
            tf.cond(
                tf.reshape(pred, []),
                lambda: _call(self.first, operands),
                lambda: _call(self.second, operands),
            )
        )


@keras.saving.register_keras_serializable(package="ferry")
class FerryWhile(_BodiesLayer):
    """A `while` node: runs `second` (the body) on the loop values while `first` (the
    condition) gives true. Both take every loop value in order; the body returns them all, in
    the same shapes. Constant loop values are this layer's weights, as for FerryOp."""

    def call(self, inputs: Any) -> tf.Tensor | list[tf.Tensor]:
        values = tuple(self._operand_tensors(inputs))

        def keep_going(*v: tf.Tensor) -> tf.Tensor:
            return tf.reshape(_call(self.first, v)[0], [])

        def step(*v: tf.Tensor) -> tuple[tf.Tensor, ...]:
            return tuple(_call(self.second, v))

        return self._finish(list(tf.while_loop(keep_going, step, values)))
