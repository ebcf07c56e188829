"""Small networks of the kinds users bring, on both back ends in both channel orders: a U-Net
(GroupNorm, ConvTranspose2d, skip connections) and an R3D-style video net (Conv3d, 3-D
pooling). With TensorFlow-order inputs and outputs the .tflite file has no TRANSPOSE."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params

import ferry
from ferry import _core


def _block(cin: int, cout: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(cin, cout, 3, padding=1),
        torch.nn.GroupNorm(4, cout),
        torch.nn.SiLU(),
    )


class UNet(torch.nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.down1, self.down2 = _block(3, width), _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.up2 = torch.nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = _block(4 * width, 2 * width)
        self.up1 = torch.nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = _block(2 * width, width)
        self.head = torch.nn.Conv2d(width, 2, 1)
        self.pool = torch.nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(self.pool(d1))
        b = self.bottom(self.pool(d2))
        u2 = self.dec2(torch.cat([self.up2(b), d2], 1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], 1))
        return self.head(u1)


class R3DStyle(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv3d(3, 8, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            torch.nn.BatchNorm3d(8),
            torch.nn.ReLU(inplace=True),
            torch.nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.block = torch.nn.Sequential(
            torch.nn.Conv3d(8, 16, 3, stride=2, padding=1),
            torch.nn.BatchNorm3d(16),
            torch.nn.ReLU(),
            torch.nn.AvgPool3d(2),
        )
        self.pool = torch.nn.AdaptiveAvgPool3d(1)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block(self.stem(x))).flatten(1))


def _random_statistics(model: torch.nn.Module) -> torch.nn.Module:
    from ferry.zoo.imports import randomize_statistics

    torch.manual_seed(0)
    return randomize_statistics(model)


CASES = [
    case("unet", _random_statistics(UNet()), (1, 3, 32, 32), tol=1e-4),
    case("r3d-style", _random_statistics(R3DStyle()), (1, 3, 8, 32, 32), tol=1e-4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_small_nets_match_pytorch(case, backend, channels_last):
    case.check(backend, channels_last)


@pytest.mark.parametrize(
    "model, shape", [(UNet(), (1, 3, 32, 32)), (R3DStyle(), (1, 3, 8, 32, 32))]
)
def test_tensorflow_order_leaves_no_transpose(model, shape):
    data = ferry.pytorch_to_tflite(_random_statistics(model), [torch.randn(shape)])
    ops = [op[0] for op in _core.read_tflite(data)["ops"]]
    assert "TRANSPOSE" not in ops and "GATHER" not in ops, ops
