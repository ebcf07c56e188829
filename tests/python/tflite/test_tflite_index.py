"""Which TFLite ops indexing becomes: static positions stay slices and reshapes (never a
GATHER), tensor indices a GATHER at int32 indices, boolean-mask writes a SELECT_V2 (never a
scatter), sorting one TOPK_V2 with its indices cast to PyTorch's int64.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

pytest.importorskip("ai_edge_litert")

from litert_cases import Spec, run  # noqa: E402

S3 = (2, 5, 6)


def ints(high: int, *shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(0, high, shape)


def bools(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.rand(shape) > 0.5


def masked(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[m] = 0.0
    return y


def thresholded(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[y > 0.5] = 0
    return y


STATIC: list[tuple[str, Callable[..., torch.Tensor], list[Spec]]] = [
    ("slice", lambda x: x[:, 1:3], [S3]),
    ("last-index", lambda x: x[..., 0], [S3]),
    ("step", lambda x: x[::2], [(5, 4)]),
    ("mixed", lambda x: x[1, :, 2:5:2], [S3]),
    ("diagonal", lambda x: torch.diagonal(x, 1, 1, 2), [S3]),
    ("select-scatter", lambda x, s: torch.select_scatter(x, s, 1, 2), [S3, (2, 6)]),
    ("slice-scatter", lambda x, s: torch.slice_scatter(x, s, 2, 1, 5, 2), [S3, (2, 5, 2)]),
]


@pytest.mark.parametrize(("fn", "specs"), [pytest.param(f, s, id=i) for i, f, s in STATIC])
def test_static_indexing_has_no_gather(fn, specs):
    names = {op for op, _ in run(fn, specs)}
    assert not names & {"GATHER", "GATHER_ND", "SCATTER_ND"}, names


def test_tensor_index_is_one_gather():
    ops = run(lambda x, i: x[:, i], [S3, ints(5, 4)])
    assert [op for op, _ in ops].count("GATHER") == 1
    assert ("GATHER", 1) in ops


@pytest.mark.parametrize("fn", [masked, thresholded], ids=["mask", "threshold"])
def test_mask_writes_are_a_select(fn):
    specs = [S3, bools(*S3)] if fn is masked else [S3]
    names = {op for op, _ in run(fn, specs)}
    assert "SELECT_V2" in names and not names & {"SCATTER_ND", "GATHER"}, names


def test_scatter_add_is_one_scatter_nd():
    ops = run(lambda x, i, s: x.scatter_add(1, i, s), [S3, ints(5, 2, 7, 6), (2, 7, 6)])
    assert ("SCATTER_ND", 1) in ops and [op for op, _ in ops].count("SCATTER_ND") == 1


def test_topk_indices_are_int64():
    ops = run(lambda x: torch.topk(x, 3, dim=1).indices, [S3])
    assert ("TOPK_V2", 1) in ops and ("CAST", 1) in ops
