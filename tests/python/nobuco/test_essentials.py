"""nobuco's README, section "Essentials", run as written with `import ferry as nobuco`."""

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
from ferry.layers.weight import WeightLayer  # noqa: F401  (the README imports it)


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


def readme_conversion():
    dummy_image = torch.rand(size=(1, 3, 256, 256))
    pytorch_module = MyModule().eval()

    keras_model = nobuco.pytorch_to_keras(
        pytorch_module,
        args=[dummy_image],
        kwargs=None,
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
    )
    return pytorch_module, keras_model


def fresh_difference(module: nn.Module, keras_model) -> float:
    x = torch.rand(size=(1, 3, 256, 256))
    with torch.no_grad():
        expected = module(x).permute(0, 2, 3, 1).numpy()
    actual = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy()))
    assert actual.shape == expected.shape == (1, 128, 128, 8)
    return float(np.abs(expected - actual).max())


def test_without_a_converter_ferry_uses_its_builtin_rule():
    # nobuco stops here and asks for a converter; Ferry has an exact rule for hardsigmoid.
    module, keras_model = readme_conversion()
    assert fresh_difference(module, keras_model) <= 1e-5


def test_without_any_rule_the_error_names_hardsigmoid_and_the_line(capsys):
    with nobuco.disabled_rules(F.hardsigmoid), pytest.raises(nobuco.UnsupportedOpsError) as err:
        readme_conversion()
    message = str(err.value)
    assert "hardsigmoid" in message
    assert f"{__file__}:{HARDSIGMOID_LINE}" in message
    assert len(err.value.ops) == 1  # listed once
    tree = capsys.readouterr().out
    # The call a user would write a converter for is marked, not only its aten op.
    marked = [line for line in tree.splitlines() if "✗" in line]
    assert any("Hardsigmoid" in line for line in marked), tree
    assert any("aten.hardsigmoid" in line for line in marked), tree


@pytest.fixture
def unregister():
    yield
    nobuco.unregister_converter(F.hardsigmoid)


def test_the_keras_hard_sigmoid_converter(unregister):
    # The README's first try. Keras 3 defines hard_sigmoid as PyTorch does (nobuco's Keras 2
    # did not): the outputs match.
    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def hardsigmoid(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.keras.activations.hard_sigmoid(input)

    module, keras_model = readme_conversion()
    assert fresh_difference(module, keras_model) <= 1e-5
    assert any(type(layer).__name__ == "FerryUserOp" for layer in keras_model.layers)


def test_the_formula_converter_matches_pytorch(unregister):
    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def hardsigmoid(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.clip_by_value(
            input / 6 + 1 / 2, clip_value_min=0, clip_value_max=1
        )

    module, keras_model = readme_conversion()
    assert fresh_difference(module, keras_model) <= 1e-5
    assert any(type(layer).__name__ == "FerryUserOp" for layer in keras_model.layers)


def test_a_wrong_converter_is_never_silent(unregister):
    # "It works, but the outputs don't quite match": Ferry raises and names the call.
    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def hardsigmoid(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.sigmoid(input)

    with pytest.raises(nobuco.ValidationError) as err:
        readme_conversion()
    report = err.value.report
    assert not report.ok
    assert report.first_divergent.op == "torch.nn.functional.hardsigmoid"
    assert "torch.nn.functional.hardsigmoid" in str(err.value)
    assert f"{__file__}:{HARDSIGMOID_LINE}" in str(err.value)
    assert err.value.model is not None  # the model is still there to inspect
