"""nobuco's README, section "In-place operations". nobuco converts an in-place op on a slice
wrongly (its graph comes out empty); Ferry writes the result back into the base tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder


class ScaleSliceThenRelu(nn.Module):
    def forward(self, x):
        x[:, 1:2, 16:25, 8::2] *= 2
        torch.relu_(x)
        return x


class ReluOfASlice(nn.Module):
    def forward(self, x):
        torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


class AssignedBack(nn.Module):
    def forward(self, x):
        x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


class Assignments(nn.Module):
    def forward(self, x):
        y = x * 1
        y[:, 0] = 0.5  # a scalar into an integer-indexed channel
        y[..., 1:3] = x[..., 4:6] * 3  # a tensor, through an Ellipsis
        y[:, :, -1] = y[:, :, 0]  # negative index, row copied from the same tensor
        z = y[:, 2]
        z.mul_(-1)  # an in-place op on a select view
        return y


@pytest.mark.parametrize("module", [ScaleSliceThenRelu, ReluOfASlice, AssignedBack, Assignments])
@pytest.mark.parametrize("order", [ChannelOrder.PYTORCH, ChannelOrder.TENSORFLOW])
def test_in_place_writes_into_views_convert_exactly(module, order):
    example = torch.randn(1, 3, 32, 32)
    before = example.clone()
    keras_model = nobuco.pytorch_to_keras(
        module(),
        [example],
        inputs_channel_order=order,
        outputs_channel_order=order,
        verbose=False,
    )
    assert torch.equal(example, before)  # the model writes into its input: a copy was traced
    x = torch.randn(1, 3, 32, 32)
    expected = module()(x.clone())
    to_tf = (lambda t: t.permute(0, 2, 3, 1)) if order == ChannelOrder.TENSORFLOW else (lambda t: t)
    got = np.asarray(keras_model(to_tf(x).numpy()))
    np.testing.assert_array_equal(got, to_tf(expected).numpy())
    # Nothing was left out: the writes are part of the graph, not greyed out as unused.
    assert keras_model.ferry_report.max_output_abs == 0
