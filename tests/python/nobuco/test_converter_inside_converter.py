"""nobuco's README, sections "So we put a converter inside your converter" and "But was it
worth it?": SliceReLU, converted through a converter of its own with reusable=False.

The README's converter body hands the module to onnx-tf (PyTorch -> ONNX -> TensorFlow), a
TensorFlow 1-era package that does not install beside TensorFlow 2.21; here the inner
converter is Ferry itself, called the way the README calls the third-party one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


class SliceReLU(nn.Module):
    def forward(self, x):
        # Gives incorrect result after conversion (with nobuco; Ferry converts it exactly)
        torch.relu_(x[:, 1:2, 16:25, 8::2])
        # That's the recommended approach, but we're not going for it now
        # x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, kernel_size=(3, 3), padding=(1, 1))

    def forward(self, x):
        x = self.conv(x)
        SliceReLU()(x)
        return x


class SliceReLUAssigned(nn.Module):
    """The "But was it worth it?" benchmark module."""

    def forward(self, x):
        x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


def convert(module: nn.Module, order: ChannelOrder):
    return nobuco.pytorch_to_keras(
        module,
        [torch.randn(1, 3, 32, 32)],
        inputs_channel_order=order,
        outputs_channel_order=order,
    )


def run(module: nn.Module, keras_model, order: ChannelOrder) -> None:
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = module(x.clone())
    to_tf = (lambda t: t.permute(0, 2, 3, 1)) if order == ChannelOrder.TENSORFLOW else (lambda t: t)
    got = np.asarray(keras_model(to_tf(x).numpy()))
    np.testing.assert_allclose(got, to_tf(expected).numpy(), atol=1e-5, rtol=0)


def test_slice_relu_converts_exactly_without_a_converter():
    module = MyModule().eval()
    keras_model = convert(module, ChannelOrder.PYTORCH)
    run(module, keras_model, ChannelOrder.PYTORCH)


@pytest.fixture
def calls():
    made = []

    @nobuco.converter(
        SliceReLU,
        channel_ordering_strategy=ChannelOrderingStrategy.FORCE_PYTORCH_ORDER,
        reusable=False,
    )
    def converter_SliceReLU(self, x):
        made.append(self)
        order = ChannelOrder.PYTORCH
        # `self.forward`, not `self`: converting the module call would find this converter.
        model = nobuco.pytorch_to_keras(
            self.forward,
            [x],
            inputs_channel_order=order,
            outputs_channel_order=order,
            verbose=False,
        )
        return lambda x: model(x)

    yield made
    nobuco.unregister_converter(SliceReLU)


def test_a_converter_that_converts_with_another_converter(calls):
    module = MyModule().eval()
    keras_model = convert(module, ChannelOrder.PYTORCH)
    run(module, keras_model, ChannelOrder.PYTORCH)
    assert len(calls) == 1
    # The SliceReLU call is one user node; its Keras model is part of the converted one.
    layers = [type(layer).__name__ for layer in keras_model._flatten_layers(include_self=False)]
    assert "FerryUserOp" in layers


def test_reusable_false_calls_the_converter_for_every_call(calls):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.slice_relu = SliceReLU()

        def forward(self, x):
            x = self.slice_relu(x * 2)
            return self.slice_relu(x - 1)

    module = Twice().eval()
    keras_model = convert(module, ChannelOrder.PYTORCH)
    assert len(calls) == 2  # reusable=False: one conversion per call of the same instance
    run(module, keras_model, ChannelOrder.PYTORCH)


@pytest.mark.parametrize("order", [ChannelOrder.PYTORCH, ChannelOrder.TENSORFLOW])
def test_the_benchmark_module_is_exact(order):
    module = SliceReLUAssigned()
    keras_model = convert(module, order)
    run(module, keras_model, order)


def test_a_converter_that_converts_its_own_call_gets_a_clear_error():
    @nobuco.converter(SliceReLU, channel_ordering_strategy=ChannelOrderingStrategy.MANUAL)
    def converter_SliceReLU(self, x):
        model = nobuco.pytorch_to_keras(self, [x], verbose=False)
        return lambda x: model(x)

    try:
        with pytest.raises(nobuco.ConversionError, match="never end"):
            nobuco.pytorch_to_keras(MyModule().eval(), [torch.randn(1, 3, 32, 32)], verbose=False)
    finally:
        nobuco.unregister_converter(SliceReLU)
