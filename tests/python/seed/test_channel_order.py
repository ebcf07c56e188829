"""Seed examples where channel order matters between the layers."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder


class GruTwoConv1d(nn.Module):
    """The seed's example: a GRU feeding two Conv1d; the seed needs a manual hint."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(32, 128, num_layers=1, batch_first=True, bidirectional=False)
        self.conv1 = nn.Conv1d(12, 40, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(12, 60, kernel_size=1, padding=0)

    def forward(self, x):
        x, hx = self.gru(x)
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        return x1, x2


def test_gru_two_conv1d_converts():
    # The GRU's [1, 12, 128] output is read by Conv1d as [N=1, C=12, L=128].
    module = GruTwoConv1d().eval()
    keras_model = nobuco.pytorch_to_keras(
        module,
        [torch.normal(0, 1, size=(1, 12, 32))],
        inputs_channel_order=ChannelOrder.PYTORCH,
    )
    x = torch.normal(0, 1, size=(1, 12, 32))
    with torch.no_grad():
        expected = module(x)
    got = keras_model(x.numpy())
    assert len(got) == 2
    for e, g in zip(expected, got):
        e, g = e.numpy(), np.asarray(g)
        # Outputs keep the order the converter chose for them (no outputs_channel_order):
        # Conv1d's [N, C, L] may come out channels-last.
        if g.shape != e.shape:
            e = np.moveaxis(e, 1, -1)
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)


def test_gru_and_two_conv1d_need_exactly_one_transpose():
    summary = nobuco.layout_summary(
        GruTwoConv1d().eval(),
        [torch.normal(0, 1, size=(1, 12, 32))],
        inputs_channel_order=ChannelOrder.PYTORCH,
    )
    # The GRU output is read channels-last by both convs: one transpose serves both.
    assert summary.transposes == 1
    assert summary.bytes_moved == 1 * 12 * 128 * 4
    assert summary.exact
