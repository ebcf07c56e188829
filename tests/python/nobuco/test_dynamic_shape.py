"""nobuco's README, section "Going dynamic / Dynamic shapes"."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import ferry as nobuco
from ferry import ChannelOrder


class DynamicShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=(1, 1))

    def forward(self, x):
        x = self.conv(x)

        # Allows for dynamic shape
        b, c, h, w = nobuco.shape(x)

        x = x[:, :, h // 3 :, w // 3 :]
        return x


@pytest.mark.xfail(
    reason="dynamic dimensions (None in input_shapes, ferry.shape) are not supported yet",
    strict=True,
)
def test_dynamic_height_and_width():
    input = torch.normal(0, 1, size=(1, 3, 128, 128))
    pytorch_module = DynamicShape().eval()

    keras_model = nobuco.pytorch_to_keras(
        pytorch_module,
        args=[input],
        input_shapes={input: (None, 3, None, None)},  # Annotate dynamic axes with None
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
        trace_shape=True,
    )
    x = torch.normal(0, 1, size=(1, 3, 96, 160))
    with torch.no_grad():
        expected = pytorch_module(x).permute(0, 2, 3, 1).numpy()
    got = keras_model(x.permute(0, 2, 3, 1).numpy())
    assert got.shape == expected.shape
