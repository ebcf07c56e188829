"""User converters for each kind of call nobuco's API names, and WeightLayer inside them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn

import ferry
from ferry.layers.weight import WeightLayer


class CumsumThenScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(5) + 0.5)

    def forward(self, x):
        return x.cumsum(1) * self.scale


@pytest.fixture
def cumsum_converter():
    calls = []

    @ferry.converter(torch.Tensor.cumsum)
    def convert_cumsum(self, dim, dtype=None):
        calls.append(dim)
        return lambda self, dim, dtype=None: tf.cumsum(self, axis=dim)

    yield calls
    ferry.unregister_converter(torch.Tensor.cumsum)


def test_a_tensor_method_converter_is_found_and_used(cumsum_converter):
    module = CumsumThenScale()
    keras_model = ferry.pytorch_to_keras(module, [torch.rand(3, 5)], verbose=False)
    assert cumsum_converter == [1]
    x = torch.rand(3, 5)
    np.testing.assert_allclose(
        np.asarray(keras_model(x.numpy())), module(x).detach().numpy(), atol=1e-5, rtol=0
    )


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(1, 4, 1, 1) + 0.5)

    def forward(self, x):
        return x * self.scale


def test_weight_layer_holds_a_converter_constant_as_a_model_weight(tmp_path):
    @ferry.converter(Scaled, channel_ordering_strategy=ferry.ChannelOrderingStrategy.MANUAL)
    def convert_scaled(self, x):
        scale = WeightLayer.create(self.scale.detach())
        return lambda x: x * scale(x)

    try:
        module = Scaled()
        keras_model = ferry.pytorch_to_keras(
            module,
            [torch.rand(2, 4, 3, 3)],
            inputs_channel_order=ferry.ChannelOrder.PYTORCH,
            verbose=False,
        )
    finally:
        ferry.unregister_converter(Scaled)
    # The constant is one of the model's weights, not baked into the graph.
    assert any(
        tuple(w.shape) == (1, 4, 1, 1) and np.allclose(np.asarray(w), module.scale.detach())
        for w in keras_model.weights
    )
    x = torch.rand(2, 4, 3, 3)
    np.testing.assert_allclose(
        np.asarray(keras_model(x.numpy())), module(x).detach().numpy(), atol=1e-6, rtol=0
    )
    layer = WeightLayer.create(np.arange(6, dtype=np.float32).reshape(2, 3), name="table")
    restored = WeightLayer.from_config(layer.get_config())
    assert restored.weight_shape == (2, 3) and restored.weight_dtype == "float32"
