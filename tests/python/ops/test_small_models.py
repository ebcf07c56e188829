"""A small MLP and a small conv net, end to end."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params
from torch import nn

torch.manual_seed(0)


def with_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
                m.bias.copy_(torch.randn_like(m.bias) * 0.1)
    return model.eval()


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = nn.functional.gelu(self.fc2(x)) + x
        return self.head(x).softmax(-1)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.gap(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


CASES = [
    case("mlp", MLP(), (4, 16)),
    case("mlp-3d", MLP(), (2, 3, 16)),
    case("convnet", with_statistics(ConvNet()), (1, 3, 16, 16)),
    case("convnet-batch2", with_statistics(ConvNet()), (2, 3, 12, 12)),
    case(
        "convnet-sequential",
        with_statistics(
            nn.Sequential(
                nn.Conv2d(3, 8, 3),
                nn.BatchNorm2d(8),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Conv2d(8, 8, 3, padding=1, groups=8),
                nn.Hardswish(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(8, 5),
            )
        ),
        (1, 3, 15, 15),
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_small_model(case, backend, channels_last):
    case.check(backend, channels_last)
