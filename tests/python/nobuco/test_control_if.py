"""nobuco's README, section "Going dynamic / Control flows": a Keras layer with autograph
control flow, built from submodules converted one by one inside the module's converter."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


class ControlIf(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_pre = nn.Conv2d(3, 16, kernel_size=(1, 1))
        self.conv_true = nn.Conv2d(16, 32, kernel_size=(1, 1))
        self.conv_false = nn.Conv2d(16, 32, kernel_size=(1, 1))
        self.conv_shared = nn.Conv2d(32, 32, kernel_size=(1, 1))

    def forward(self, x):
        x = self.conv_pre(x)
        if x.mean() > 0:
            x = self.conv_true(x)
            x = torch.tanh(x)
            x = self.conv_shared(x)
            x = x + 1
        else:
            x = self.conv_false(x)
            x = torch.sigmoid(x)
            x = self.conv_shared(x)
            x = x - 1
        x = self.conv_shared(x)
        return x


class ControlIfKeras(tf.keras.layers.Layer):
    def __init__(self, conv_pre, conv_true, conv_false, conv_shared, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conv_pre = conv_pre
        self.conv_true = conv_true
        self.conv_false = conv_false
        self.conv_shared = conv_shared

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "conv_pre": self.conv_pre,
                "conv_true": self.conv_true,
                "conv_false": self.conv_false,
                "conv_shared": self.conv_shared,
            }
        )
        return config

    @tf.function
    def call(self, x):
        x = self.conv_pre(x)
        if tf.reduce_mean(x) > 0:
            x = self.conv_true(x)
            x = tf.tanh(x)
            x = self.conv_shared(x)
            x = x + 1
        else:
            x = self.conv_false(x)
            x = tf.sigmoid(x)
            x = self.conv_shared(x)
            x = x - 1
        x = self.conv_shared(x)
        return x


@pytest.fixture
def readme_converter():
    @nobuco.converter(
        ControlIf, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
    )
    def converter_ControlIf(self, x):
        order = ChannelOrder.TENSORFLOW
        kwargs = {
            "inputs_channel_order": order,
            "outputs_channel_order": order,
            "return_outputs_pt": True,
        }

        conv_pre, out_pre = nobuco.pytorch_to_keras(self.conv_pre, [x], **kwargs)
        conv_true, out_true = nobuco.pytorch_to_keras(self.conv_true, [out_pre], **kwargs)
        conv_false, out_false = nobuco.pytorch_to_keras(self.conv_false, [out_pre], **kwargs)
        conv_shared, _ = nobuco.pytorch_to_keras(self.conv_shared, [out_true], **kwargs)
        layer = ControlIfKeras(conv_pre, conv_true, conv_false, conv_shared)
        return layer

    yield
    nobuco.unregister_converter(ControlIf)


def test_both_branches_run_in_the_converted_model(readme_converter):
    module = ControlIf().eval()
    keras_model = nobuco.pytorch_to_keras(
        module,
        [torch.rand(1, 3, 16, 16)],
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
    )
    # Inputs that send the PyTorch model down each branch (the bias decides the sign).
    taken = set()
    for sign in (1.0, -1.0):
        with torch.no_grad():
            module.conv_pre.bias.fill_(sign * 5)
        x = torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            taken.add(bool(module.conv_pre(x).mean() > 0))
            expected = module(x).permute(0, 2, 3, 1).numpy()
        # The Keras layers hold their own copy of the weights: update conv_pre's bias there.
        pre = next(
            layer
            for layer in keras_model._flatten_layers(include_self=False)
            if isinstance(layer, tf.keras.layers.Conv2D) and layer.kernel.shape[2] == 3
        )
        pre.bias.assign(np.full(16, sign * 5, dtype=np.float32))
        got = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy()))
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert taken == {True, False}
