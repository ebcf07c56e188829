"""The seed's Essentials example, run as `import ferry as nobuco`."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn
import torch.nn.functional as F

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=(3, 3), padding=(1, 1), stride=(2, 2))

    def forward(self, x):
        x = self.conv(x)
        x = nn.Hardsigmoid()(x)
        x = 1 - x[:, ::2] * x[:, 1::2]
        return x


HARDSIGMOID_LINE = (
    next(
        i
        for i, line in enumerate(inspect.getsourcelines(MyModule.forward)[0])
        if "Hardsigmoid" in line
    )
    + inspect.getsourcelines(MyModule.forward)[1]
)


def convert(module: nn.Module):
    return nobuco.pytorch_to_keras(
        module,
        args=[torch.rand(size=(1, 3, 256, 256))],
        kwargs=None,
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
    )


def fresh_difference(module: nn.Module, keras_model) -> float:
    x = torch.rand(size=(1, 3, 256, 256))
    with torch.no_grad():
        expected = module(x).permute(0, 2, 3, 1).numpy()
    actual = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy()))
    assert actual.shape == expected.shape == (1, 128, 128, 8)
    return float(np.abs(expected - actual).max())


@pytest.fixture
def seed_converter():
    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def hardsigmoid(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.clip_by_value(
            input / 6 + 1 / 2, clip_value_min=0, clip_value_max=1
        )

    yield hardsigmoid
    nobuco.unregister_converter(F.hardsigmoid)


def test_without_a_hardsigmoid_rule_the_error_names_it_and_the_line(capsys):
    module = MyModule().eval()
    with nobuco.disabled_rules(F.hardsigmoid), pytest.raises(nobuco.UnsupportedOpsError) as err:
        convert(module)
    message = str(err.value)
    assert "hardsigmoid" in message
    assert f"{__file__}:{HARDSIGMOID_LINE}" in message
    assert len(err.value.ops) == 1  # listed once
    tree = capsys.readouterr().out
    assert "hardsigmoid" in tree and "no converter" in tree


def test_seed_user_converter_matches_pytorch(seed_converter):
    module = MyModule().eval()
    keras_model = convert(module)
    assert fresh_difference(module, keras_model) <= 1e-5


def test_user_converter_wins_over_the_builtin_rule():
    # Keras' hard_sigmoid differs from PyTorch's; if the model shows that difference, the
    # user's converter was used instead of Ferry's exact built-in rule.
    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def keras_flavoured(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.keras.activations.hard_sigmoid(input) * 0.5

    try:
        module = MyModule().eval()
        keras_model = convert(module)
        assert fresh_difference(module, keras_model) > 1e-2
    finally:
        nobuco.unregister_converter(F.hardsigmoid)


def test_builtin_rule_matches_pytorch():
    module = MyModule().eval()
    keras_model = convert(module)
    assert fresh_difference(module, keras_model) <= 1e-5
