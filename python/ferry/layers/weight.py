"""WeightLayer: a constant tensor held as a Keras weight, for user converters.

A converter that needs a constant (a learned scale, a lookup table) gets it into the model's
weights this way, so it is saved with the model instead of being baked into the graph:

    scale = WeightLayer.create(self.scale.detach().numpy())
    return lambda x: x * scale(x)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ferry")
class WeightLayer(keras.layers.Layer):
    """Returns its weight whatever it is called with (the argument only anchors it in a
    functional graph)."""

    def __init__(
        self, weight_shape: Sequence[int], weight_dtype: Any = "float32", **kwargs: Any
    ) -> None:
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.weight_shape = tuple(int(d) for d in weight_shape)
        self.weight_dtype = np.dtype(getattr(weight_dtype, "as_numpy_dtype", weight_dtype)).name
        self.weight = self.add_weight(
            name="weight",
            shape=self.weight_shape,
            dtype=self.weight_dtype,
            initializer="zeros",
            trainable=False,
        )

    @classmethod
    def create(cls, weight: Any, **kwargs: Any) -> WeightLayer:
        """A layer holding `weight` (a NumPy array, a torch tensor or a TF tensor)."""
        if hasattr(weight, "detach"):  # torch
            weight = weight.detach().cpu().numpy()
        array = np.asarray(weight)
        layer = cls(array.shape, array.dtype, **kwargs)
        layer.set_weights([array])
        return layer

    def call(self, inputs: Any = None) -> Any:
        return tf.identity(self.weight.value)

    def compute_output_shape(self, input_shape: Any = None) -> tuple[int, ...]:
        return self.weight_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "weight_shape": list(self.weight_shape),
            "weight_dtype": self.weight_dtype,
        }
