"""nobuco's "pick your poison" example: PixelUnshuffle -> Conv2d -> PixelShuffle converts to as
few ops as its TensorFlow-ordered rewrite (SpaceToDepth -> Conv2d -> DepthToSpace): three, with
no TRANSPOSE, the channel interleaves folded into the convolution's weights."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

import ferry
from ferry import ChannelOrder, _core
from ferry.addons.torch.depth_to_space import DepthToSpace
from ferry.addons.torch.space_to_depth import SpaceToDepth

TF, PT = ChannelOrder.TENSORFLOW, ChannelOrder.PYTORCH


class MyModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.factor = 4
        self.conv = nn.Conv2d(3 * self.factor**2, 3 * self.factor**2, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.PixelUnshuffle(self.factor)(x)
        x = self.conv(x)
        x = nn.PixelShuffle(self.factor)(x)
        return x


class MyModuleTFOptimized(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.factor = 4
        self.conv = nn.Conv2d(3 * self.factor**2, 3 * self.factor**2, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = SpaceToDepth(self.factor)(x)
        x = self.conv(x)
        x = DepthToSpace(self.factor)(x)
        return x


MODULES = [MyModule, MyModuleTFOptimized]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_three_ops_and_no_transpose(module):
    pytest.importorskip("ai_edge_litert")  # validation runs the file in LiteRT
    model = module().eval()
    data = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 64, 64)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    ops = [op[0] for op in _core.read_tflite(data)["ops"]]
    assert ops == ["SPACE_TO_DEPTH", "CONV_2D", "DEPTH_TO_SPACE"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_layout_summary(module):
    model = module().eval()
    x = [torch.rand(1, 3, 64, 64)]
    tf_io = ferry.layout_summary(model, x, inputs_channel_order=TF, outputs_channel_order=TF)
    assert tf_io.transposes == 0
    # In PyTorch order: the image in and the image out, nothing between.
    pt_io = ferry.layout_summary(model, x, inputs_channel_order=PT, outputs_channel_order=PT)
    assert pt_io.transposes == 2
    assert pt_io.bytes_moved == 2 * 3 * 64 * 64 * 4


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_keras_model_has_the_same_three_ops(module):
    pytest.importorskip("tensorflow")
    from ferry.keras.layers import FerryOp

    model = module().eval()
    keras_model = ferry.pytorch_to_keras(
        model,
        [torch.rand(1, 3, 64, 64)],
        inputs_channel_order=TF,
        outputs_channel_order=TF,
        verbose=False,
    )
    ops = Counter(
        layer.op if isinstance(layer, FerryOp) else type(layer).__name__
        for layer in keras_model.layers
    )
    assert ops["space_to_depth"] == 1 and ops["Conv2D"] == 1 and ops["depth_to_space"] == 1
    assert ops["transpose"] == 0 and ops["reshape"] == 0
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).permute(0, 2, 3, 1).numpy()
    got = keras_model(x.permute(0, 2, 3, 1).numpy())
    torch.testing.assert_close(
        torch.as_tensor(got.numpy()), torch.as_tensor(expected), atol=1e-5, rtol=0
    )
