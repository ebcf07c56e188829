"""grid_sample through the direct TFLite writer: structure of the emitted graph."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ai_edge_litert")

from litert_cases import run  # noqa: E402


class ConvSampleConv(torch.nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        y = F.grid_sample(
            self.a(x), grid, mode=self.mode, padding_mode="border", align_corners=False
        )
        return self.b(y)


def _grid() -> torch.Tensor:
    return torch.rand(2, 5, 6, 2) * 2.4 - 1.2


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_gathers_channels_last_rows(mode):
    # The sampled tensor stays channels-last between the convolutions: the only TRANSPOSEs
    # are the model's PyTorch-order input and output; pixels come from GATHER, never GATHER_ND.
    ops = run(ConvSampleConv(mode), [(2, 3, 7, 9), _grid])
    names = [name for name, _ in ops]
    assert names.count("TRANSPOSE") == 2
    assert names.count("GATHER") == (4 if mode == "bilinear" else 1)
    assert ("GATHER", 1) in ops and "GATHER_ND" not in names
