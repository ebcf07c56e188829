"""Group and instance norm through the direct TFLite writer: channels grouped where they lie,
so a channels-last model needs no TRANSPOSE around them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")

from litert_cases import assert_matches, ops_of  # noqa: E402

import ferry  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402

TF = ferry.ChannelOrder.TENSORFLOW


def convert_tf_order(model: nn.Module, shape: tuple[int, ...]) -> list[str]:
    model.eval()
    data = ferry.pytorch_to_tflite(
        model, [torch.randn(shape)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    x = torch.randn(shape)
    with torch.no_grad():
        expected = model(x).permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(data, [x.permute(0, 2, 3, 1).numpy()])
    assert_matches(got, expected, 1e-5)
    return [name for name, _ in ops_of(data)]


@pytest.mark.parametrize("norm", [nn.GroupNorm(4, 8), nn.InstanceNorm2d(8, affine=True)])
def test_conv_norm_conv_in_tensorflow_order_has_no_transpose(norm):
    with torch.no_grad():
        for p in norm.parameters():
            p.copy_(torch.randn_like(p))
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), norm, nn.Conv2d(8, 4, 1))
    ops = convert_tf_order(model, (2, 3, 6, 6))
    assert ops.count("TRANSPOSE") == 0
    assert ops.count("CONV_2D") == 2 and ops.count("MEAN") == 2
