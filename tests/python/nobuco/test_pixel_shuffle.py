"""nobuco's README, section "Implementation mismatch: pick your poison": pixel (un)shuffle
and the SpaceToDepth / DepthToSpace addons, with the README's own converters too."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

import ferry
import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy, _core
from ferry.addons import DepthToSpace as DepthToSpaceShort
from ferry.addons import SpaceToDepth as SpaceToDepthShort
from ferry.addons.torch.depth_to_space import DepthToSpace
from ferry.addons.torch.space_to_depth import SpaceToDepth

TF = ChannelOrder.TENSORFLOW


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.factor = 4
        self.conv = nn.Conv2d(3 * self.factor**2, 3 * self.factor**2, kernel_size=1)

    def forward(self, x):
        x = nn.PixelUnshuffle(self.factor)(x)
        x = self.conv(x)
        x = nn.PixelShuffle(self.factor)(x)
        return x


class MyModuleTFOptimized(nn.Module):
    def __init__(self):
        super().__init__()
        self.factor = 4
        self.conv = nn.Conv2d(3 * self.factor**2, 3 * self.factor**2, kernel_size=1)

    def forward(self, x):
        x = SpaceToDepth(self.factor)(x)
        x = self.conv(x)
        x = DepthToSpace(self.factor)(x)
        return x


class ShortImportPath(MyModuleTFOptimized):
    def forward(self, x):
        x = SpaceToDepthShort(self.factor)(x)
        x = self.conv(x)
        x = DepthToSpaceShort(self.factor)(x)
        return x


def fresh_check(module: nn.Module, keras_model) -> None:
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = module(x).permute(0, 2, 3, 1).numpy()
    got = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy()))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("module", [MyModule, MyModuleTFOptimized, ShortImportPath])
def test_three_ops_on_both_back_ends(module):
    model = module().eval()
    keras_model = nobuco.pytorch_to_keras(
        model, [torch.rand(1, 3, 64, 64)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    fresh_check(model, keras_model)
    data = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 64, 64)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    ops = Counter(op[0] for op in _core.read_tflite(data)["ops"])
    # "Ideally, there would only be three nodes in the converted graph": the channel
    # interleaves of pixel (un)shuffle are folded into the convolution's weights.
    assert ops == Counter({"SPACE_TO_DEPTH": 1, "CONV_2D": 1, "DEPTH_TO_SPACE": 1})


def channel_interleave2d(x, block_size: int, reverse: bool):
    b, h, w, c = x.shape
    n_blocks = block_size**2

    if reverse:
        x = tf.reshape(x, (b, h, w, n_blocks, c // n_blocks))
    else:
        x = tf.reshape(x, (b, h, w, c // n_blocks, n_blocks))

    x = tf.transpose(x, (0, 1, 2, 4, 3))
    x = tf.reshape(x, (b, h, w, c))
    return x


@pytest.fixture
def readme_converters():
    @nobuco.converter(
        F.pixel_unshuffle, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
    )
    def converter_pixel_unshuffle(input: Tensor, downscale_factor: int):
        def func(input, downscale_factor):
            x = tf.nn.space_to_depth(input, downscale_factor)
            x = channel_interleave2d(x, downscale_factor, reverse=True)
            return x

        return func

    @nobuco.converter(
        SpaceToDepth, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
    )
    def converter_space_to_depth(self, input: torch.Tensor):
        return lambda input: tf.nn.space_to_depth(input, self.block_size)

    yield
    nobuco.unregister_converter(F.pixel_unshuffle, SpaceToDepth)


class UnshuffleOnly(nn.Module):
    def forward(self, x):
        return F.pixel_unshuffle(x, 4), SpaceToDepth(2)(x)


def test_the_readme_converters_win_and_match(readme_converters):
    module = UnshuffleOnly()
    keras_model = nobuco.pytorch_to_keras(
        module, [torch.rand(1, 3, 64, 64)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    assert sum(type(layer).__name__ == "FerryUserOp" for layer in keras_model.layers) == 2
    x = torch.rand(1, 3, 64, 64)
    expected = [t.permute(0, 2, 3, 1).numpy() for t in module(x)]
    got = keras_model(x.permute(0, 2, 3, 1).numpy())
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), e, atol=1e-6, rtol=0)
