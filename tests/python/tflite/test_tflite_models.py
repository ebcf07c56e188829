"""Whole models through the direct TFLite writer: LiteRT runs them and matches PyTorch."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from models.torchvision_import import import_torchvision

pytest.importorskip("ai_edge_litert")

import ferry  # noqa: E402
from ferry import _core  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402

TOLERANCE = 1e-4


def _ops(data: bytes) -> Counter:
    return Counter((op[0], op[1]) for op in _core.read_tflite(data)["ops"])


def _assert_close(got: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE) -> None:
    assert got.shape == expected.shape
    bound = tolerance * max(1.0, np.abs(expected).max() / 10)
    assert np.abs(got - expected).max() <= bound


@pytest.mark.slow
def test_deeplabv3_resnet50():
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=False
    ).eval()
    data = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3, 128, 128)],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
    )
    fresh = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        expected = model(fresh)["out"].permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    _assert_close(got, expected)
    ops = _ops(data)
    # ASPP's pooled branch (1x1 -> 16x16) and the logits (16x16 -> 128x128), half-pixel.
    assert ops[("RESIZE_BILINEAR", 3)] == 2
    assert not any(name == "TRANSPOSE" for name, _ in ops)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder(activation):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, activation=activation)
    model = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    data = ferry.pytorch_to_tflite(
        model,
        [torch.randn(2, 10, 64)],
        inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        outputs_channel_order=ferry.ChannelOrder.PYTORCH,
    )
    fresh = torch.randn(2, 10, 64)
    with torch.no_grad():
        expected = model(fresh).numpy()
    (got,) = run_tflite(data, [fresh.numpy()])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE
    ops = _ops(data)
    assert ops[("BATCH_MATMUL", 1)] == 4  # q @ k^T and weights @ v, per layer
    assert ops[("RSQRT", 1)] == 4  # two layer norms per layer
    assert ops[("GELU", 1)] == (2 if activation == "gelu" else 0)


class GroupedBottleneck(torch.nn.Module):
    """ResNeXt's block: 1x1, grouped 3x3 (stride 2), 1x1, each with batch norm, a projected
    residual and ReLUs (which fuse into the convolutions)."""

    def __init__(self, cin: int = 16, width: int = 32, groups: int = 8, cout: int = 32):
        super().__init__()
        nn = torch.nn

        def bn(c: int) -> nn.BatchNorm2d:
            b = nn.BatchNorm2d(c)
            b.running_mean.uniform_(-0.5, 0.5)
            b.running_var.uniform_(0.5, 1.5)
            return b

        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            bn(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1, groups=groups, bias=False),
            bn(width),
            nn.ReLU(),
            nn.Conv2d(width, cout, 1, bias=False),
            bn(cout),
        )
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.down(x))


def _check_grouped(model: torch.nn.Module, size: int) -> Counter:
    data = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3 if size > 64 else 16, size, size)],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    fresh = torch.rand(1, 3 if size > 64 else 16, size, size)
    with torch.no_grad():
        y = model(fresh)
    expected = (y.permute(0, 2, 3, 1) if y.dim() == 4 else y).numpy()
    (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())
    ops = _ops(data)
    # Each grouped convolution is one CONV_2D (version 6), never split per group.
    assert not {"STRIDED_SLICE", "CONCATENATION", "TRANSPOSE"} & {name for name, _ in ops}, ops
    return ops


def test_grouped_bottleneck():
    torch.manual_seed(0)
    ops = _check_grouped(GroupedBottleneck().eval(), 12)
    assert ops[("CONV_2D", 6)] == 1 and ops[("CONV_2D", 1)] == 3, ops


@pytest.mark.slow
@pytest.mark.parametrize(("name", "grouped"), [("resnext50_32x4d", 16), ("regnet_y_400mf", 16)])
def test_grouped_conv_classifiers(name, grouped):
    from models.torchvision_import import random_model

    ops = _check_grouped(random_model(name), 224)
    assert ops[("CONV_2D", 6)] == grouped, ops


class TinyUNet(torch.nn.Module):
    """Two strided convolutions down, ConvTranspose2d up, skip connections concatenated."""

    def __init__(self):
        super().__init__()
        nn = torch.nn

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU())

        self.enc1, self.enc2, self.enc3 = block(3, 8), block(8, 16, 2), block(16, 32, 2)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = block(32, 16)
        self.up1 = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        self.dec1 = block(16, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d2 = self.dec2(torch.cat([self.up2(self.enc3(e2)), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def test_unet_transposed_convolutions_need_no_transpose():
    torch.manual_seed(0)
    model = TinyUNet().eval()
    tf_order = ferry.ChannelOrder.TENSORFLOW
    data = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3, 16, 16)],
        inputs_channel_order=tf_order,
        outputs_channel_order=tf_order,
        verbose=False,
    )
    fresh = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expected = model(fresh).permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())
    ops = _ops(data)
    assert ops[("TRANSPOSE_CONV", 3)] == 2, ops
    assert not any(name == "TRANSPOSE" for name, _ in ops), ops
