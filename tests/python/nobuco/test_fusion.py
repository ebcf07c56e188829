"""nobuco's README, section "Ad hoc modifications": a converter for a @traceable method fuses
BatchNorm into the following convolution."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


class FusibleModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 16, kernel_size=(3, 3), padding=(0, 0))
        self.act = nn.ReLU()

    @nobuco.traceable
    def bn_conv(self, x):
        x = self.bn(x)
        x = self.conv(x)
        return x

    def forward(self, x):
        x = self.bn_conv(x)
        x = self.act(x)
        return x


@nobuco.converter(
    FusibleModule.bn_conv, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
)
def converter_bn_conv(self, x):
    order = ChannelOrder.TENSORFLOW
    bn, out_bn = nobuco.pytorch_to_keras(
        self.bn,
        [x],
        inputs_channel_order=order,
        outputs_channel_order=order,
        return_outputs_pt=True,
    )
    conv = nobuco.pytorch_to_keras(
        self.conv, [out_bn], inputs_channel_order=order, outputs_channel_order=order
    )

    gamma, beta, moving_mean, moving_variance = bn.get_weights()
    kernel, bias = conv.get_weights()
    eps = self.bn.eps

    """
    y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
    z = kernel * y + bias
    =>
    z = kernel_fused * x + bias_fused WHERE
    kernel_fused = kernel * gamma / sqrt(moving_variance + eps)
    bias_fused = -kernel_fused * moving_mean + kernel * beta + bias
    """
    kernel_fused = kernel * (gamma / np.sqrt(moving_variance + eps))[None, None, :, None]
    bias_fused = (
        -kernel_fused * moving_mean[None, None, :, None] + kernel * beta[None, None, :, None]
    ).sum(axis=(0, 1, 2)).flatten() + bias
    conv.set_weights([kernel_fused, bias_fused])
    return lambda self, x: conv(x)


def all_layers(model) -> list[str]:
    return [type(layer).__name__ for layer in model._flatten_layers(include_self=False)]


def test_the_method_converter_is_used_and_fuses():
    module = FusibleModule().eval()
    with torch.no_grad():  # non-trivial statistics, so a skipped batch norm would show
        module.bn.running_mean.uniform_(-1, 1)
        module.bn.running_var.uniform_(0.5, 2)
        module.bn.weight.uniform_(0.5, 2)
        module.bn.bias.uniform_(-1, 1)
    keras_model = nobuco.pytorch_to_keras(
        module,
        [torch.rand(1, 3, 32, 32)],
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
    )
    layers = all_layers(keras_model)
    assert layers.count("Conv2D") == 1, layers
    assert "BatchNormalization" not in layers, layers
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = module(x).permute(0, 2, 3, 1).numpy()
    got = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy()))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
