"""Padding modes and 3-D / adaptive pooling through the direct TFLite writer: which builtins
they become (MIRROR_PAD for reflect; slices, BROADCAST_TO and CONCATENATION for replicate and
circular, never GATHER; crops as STRIDED_SLICE; 3-D pools as two 2-D pools)."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from torch import nn

pytest.importorskip("ai_edge_litert")

from litert_cases import run  # noqa: E402

S4, S5 = (1, 3, 6, 7), (1, 2, 6, 6, 6)


def names(ops: list[tuple[str, int]]) -> list[str]:
    return [name for name, _ in ops]


def test_reflect_is_one_mirror_pad():
    assert run(lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect"), [S4]) == [("MIRROR_PAD", 1)]


def test_negative_pads_crop_with_a_strided_slice():
    ops = names(run(lambda x: F.pad(x, (-1, 2, 0, -3)), [S4]))
    assert ops == ["PAD", "STRIDED_SLICE"]


@pytest.mark.parametrize("mode", ["replicate", "circular"])
def test_edge_modes_are_static_slices_and_concatenations(mode):
    ops = names(run(lambda x: F.pad(x, (2, 1, 3, 1), mode=mode), [S4]))
    assert "GATHER" not in ops
    assert ops.count("CONCATENATION") == 2
    assert set(ops) <= {"STRIDED_SLICE", "BROADCAST_TO", "CONCATENATION"}


@pytest.mark.parametrize(
    ("module", "pool"),
    [(nn.MaxPool3d(2), "MAX_POOL_2D"), (nn.AvgPool3d(3, 2, padding=1), "AVERAGE_POOL_2D")],
)
def test_3d_pooling_is_two_2d_pools(module, pool):
    ops = names(run(module, [S5]))
    assert ops.count(pool) == 2
    # Two TRANSPOSEs only, for the PyTorch-order input and output around the channels-last pool.
    assert ops.count("TRANSPOSE") == 2 and "GATHER" not in ops


def test_adaptive_pooling_of_uneven_sizes_slices_and_reduces():
    ops = names(run(nn.AdaptiveMaxPool2d(3), [(1, 3, 8, 8)]))
    assert "GATHER" not in ops
    assert ops.count("REDUCE_MAX") == 6
