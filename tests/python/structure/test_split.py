"""Splitting and stacking along the channel axis of a channels-last tensor needs no transpose."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import ferry
from ferry import ChannelOrder, LayoutSummary

TF = ChannelOrder.TENSORFLOW


class SplitBranches(nn.Module):
    """conv -> split along the channels -> one conv per piece -> cat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.left = nn.Conv2d(3, 4, 3, padding=1)
        self.right = nn.Conv2d(5, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.stem(x).split([3, 5], dim=1)
        return torch.cat([self.left(a), self.right(b)], 1)


class ChunkSum(nn.Module):
    """conv -> chunk along the channels -> one conv per piece -> sum."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.heads = nn.ModuleList(nn.Conv2d(4, 6, 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.stem(x).chunk(2, 1)
        return self.heads[0](a) + self.heads[1](b)


def summary(model: nn.Module) -> LayoutSummary:
    return ferry.layout_summary(
        model.eval(),
        [torch.rand(1, 3, 16, 16)],
        inputs_channel_order=TF,
        outputs_channel_order=TF,
    )


@pytest.mark.parametrize("model", [SplitBranches, ChunkSum])
def test_split_along_channels_between_convs_has_no_transpose(model: type[nn.Module]) -> None:
    s = summary(model())
    assert s.transposes == 0
    assert s.exact
