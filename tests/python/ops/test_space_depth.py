"""pixel_shuffle / pixel_unshuffle (functions, modules), ferry.addons.SpaceToDepth /
DepthToSpace, and the channel interleave between them, next to convolutions and not."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, ints, params
from torch import nn

from ferry.addons import DepthToSpace, SpaceToDepth

torch.manual_seed(0)


def conv(cin: int, cout: int, k: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """Batch norm with statistics that are not the identity."""
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    return bn


class Shared(nn.Module):
    """pixel_unshuffle read by a conv and by a reduction: the conv takes the folded weights,
    the reduction still needs the interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = conv(8, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pixel_unshuffle(x, 2)
        return self.conv(y) * y.softmax(dim=1)


class PixelsAsTokens(nn.Module):
    """pixel_unshuffle, then every pixel as a token for a Linear over the channels."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(12, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.pixel_unshuffle(x, 2).flatten(2).transpose(1, 2))


CASES = [
    # PyTorch's channel order: space_to_depth / depth_to_space and an interleave
    case("pixel-shuffle-2", nn.PixelShuffle(2), (2, 12, 5, 3)),
    case("pixel-shuffle-3", lambda x: F.pixel_shuffle(x, 3), (1, 18, 4, 6)),
    case("pixel-shuffle-one-channel", nn.PixelShuffle(3), (1, 9, 4, 4)),
    case("pixel-shuffle-factor-1", nn.PixelShuffle(1), (1, 4, 3, 5)),
    case("pixel-shuffle-unbatched", lambda x: F.pixel_shuffle(x, 2), (8, 3, 5)),
    case("pixel-shuffle-5d", lambda x: F.pixel_shuffle(x, 2), (2, 3, 8, 2, 4)),
    case("pixel-shuffle-torch", lambda x: torch.pixel_shuffle(x, 2), (1, 8, 3, 3)),
    case("pixel-shuffle-int64", nn.PixelShuffle(2), ints(100, 1, 8, 3, 4)),
    case("pixel-unshuffle-2", nn.PixelUnshuffle(2), (2, 3, 6, 10)),
    case("pixel-unshuffle-4", lambda x: F.pixel_unshuffle(x, 4), (1, 3, 16, 8)),
    case("pixel-unshuffle-one-channel", nn.PixelUnshuffle(2), (1, 1, 6, 6)),
    case("pixel-unshuffle-factor-1", nn.PixelUnshuffle(1), (1, 3, 5, 5)),
    case("pixel-unshuffle-unbatched", lambda x: F.pixel_unshuffle(x, 2), (3, 4, 6)),
    case("pixel-unshuffle-5d", lambda x: F.pixel_unshuffle(x, 3), (2, 2, 3, 6, 9)),
    case("pixel-round-trip", lambda x: F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2), (1, 3, 8, 8)),
    # TensorFlow's channel order
    case("space-to-depth-2", SpaceToDepth(2), (2, 3, 8, 6)),
    case("space-to-depth-3", SpaceToDepth(3), (1, 5, 6, 9)),
    case("depth-to-space-2", DepthToSpace(2), (2, 12, 4, 3)),
    case("depth-to-space-4", DepthToSpace(4), (1, 32, 3, 2)),
    case("space-depth-round-trip", nn.Sequential(SpaceToDepth(2), DepthToSpace(2)), (1, 3, 8, 8)),
    # The interleave next to convolutions (folded into their weights) and elsewhere (kept)
    case("unshuffle-conv", nn.Sequential(nn.PixelUnshuffle(2), conv(12, 5)), (1, 3, 8, 8)),
    case("conv-shuffle", nn.Sequential(conv(3, 12, 3), nn.PixelShuffle(2)), (1, 3, 5, 7)),
    case(
        "unshuffle-conv-shuffle",
        nn.Sequential(nn.PixelUnshuffle(4), conv(48, 48), nn.PixelShuffle(4)),
        (1, 3, 16, 16),
    ),
    case(
        "conv-shuffle-relu-conv",
        nn.Sequential(conv(4, 16, 3), nn.PixelShuffle(2), nn.ReLU(), conv(4, 2, 3)),
        (1, 4, 6, 6),
    ),
    case(
        "conv-relu-shuffle",
        nn.Sequential(conv(3, 12, 3), nn.ReLU(), nn.PixelShuffle(2)),
        (1, 3, 5, 7),
    ),
    case(
        "conv-bn-shuffle",
        nn.Sequential(conv(3, 12, 3), batch_norm(12), nn.PixelShuffle(2)),
        (1, 3, 5, 7),
    ),
    case(
        "unshuffle-relu-conv-stride-2",
        nn.Sequential(nn.PixelUnshuffle(2), nn.ReLU(), nn.Conv2d(12, 5, 3, stride=2, padding=1)),
        (1, 3, 16, 12),
    ),
    case("unshuffle-relu", nn.Sequential(nn.PixelUnshuffle(2), nn.ReLU()), (1, 3, 8, 4)),
    case("unshuffle-shared", Shared(), (1, 2, 6, 6)),
    case("unshuffle-linear", PixelsAsTokens(), (1, 3, 4, 6)),
    case(
        "conv-grouped-shuffle",
        nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.PixelShuffle(2)),
        (1, 4, 5, 5),
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_space_depth(case, backend, channels_last):
    case.check(backend, channels_last)
