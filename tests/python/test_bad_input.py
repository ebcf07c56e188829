"""Bad input gets a clear error from Ferry, before anything reaches TensorFlow."""

from __future__ import annotations

import pytest
import torch

import ferry


class TwoInputs(torch.nn.Module):
    def forward(self, x, y):
        return x + y


def test_not_a_module_nor_callable():
    with pytest.raises(TypeError, match="ferry.*nn.Module"):
        ferry.pytorch_to_keras(42, args=[torch.rand(1, 3)])


def test_args_that_do_not_fit_forward():
    with pytest.raises(TypeError, match="ferry"):
        ferry.pytorch_to_keras(TwoInputs(), args=[torch.rand(1, 3)])


def test_args_not_a_sequence():
    with pytest.raises(TypeError, match="ferry"):
        ferry.pytorch_to_keras(TwoInputs(), args=torch.rand(1, 3))


def test_complex_input_dtype():
    x = torch.rand(1, 3, dtype=torch.complex64)
    with pytest.raises((TypeError, ValueError), match="complex"):
        ferry.pytorch_to_keras(TwoInputs(), args=[x, x])


def test_bad_channel_order_argument():
    with pytest.raises(TypeError, match="ChannelOrder"):
        ferry.pytorch_to_keras(
            TwoInputs(), args=[torch.rand(1, 3), torch.rand(1, 3)], inputs_channel_order="NHWC"
        )


def test_training_mode_batch_norm_is_refused_with_the_reason():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4)).train()
    with pytest.raises(ferry.ConversionError, match="eval"):
        ferry.pytorch_to_keras(model, args=[torch.rand(2, 3, 4, 4)], verbose=False)
