"""Control flow in Keras: a loop whose condition and body are Keras models of their own."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ferry.keras.layers import _OperandLayer


def _call(model: keras.Model, values: tuple[tf.Tensor, ...]) -> list[tf.Tensor]:
    out = model(values[0] if len(values) == 1 else list(values))
    return list(out) if isinstance(out, (list, tuple)) else [out]


@keras.saving.register_keras_serializable(package="ferry")
class FerryWhile(_OperandLayer):
    """A `while` node: runs `body` on the loop values while `cond` gives true. Both models
    take every loop value in order; `body` returns them all, in the same shapes. Constant loop
    values are this layer's weights, as for FerryOp."""

    def __init__(self, cond: keras.Model, body: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cond = cond
        self.body = body

    def call(self, inputs: Any) -> tf.Tensor | list[tf.Tensor]:
        values = tuple(self._operand_tensors(inputs))

        def keep_going(*v: tf.Tensor) -> tf.Tensor:
            return tf.reshape(_call(self.cond, v)[0], [])

        def step(*v: tf.Tensor) -> tuple[tf.Tensor, ...]:
            return tuple(_call(self.body, v))

        return self._finish(list(tf.while_loop(keep_going, step, values)))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cond": keras.saving.serialize_keras_object(self.cond),
            "body": keras.saving.serialize_keras_object(self.body),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FerryWhile:
        config = dict(config)
        cond = keras.saving.deserialize_keras_object(config.pop("cond"))
        body = keras.saving.deserialize_keras_object(config.pop("body"))
        return cls(cond, body, **config)
