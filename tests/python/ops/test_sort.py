"""Sorting: topk, sort, argsort, msort, kthvalue, median, on both back ends and channel orders.

Inputs are distinct (standard-normal floats; integer inputs a permutation) so that the order
is defined: PyTorch leaves the order of equal values unspecified unless stable=True. Indices
are compared exactly, with PyTorch's int64 dtype on the .tflite path.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from op_cases import PARAMS, case, params


def distinct_ints(*shape: int) -> Callable[[], torch.Tensor]:
    n = int(torch.tensor(shape).prod())
    return lambda: (torch.randperm(n) - n // 2).reshape(shape)


def ties(*shape: int) -> Callable[[], torch.Tensor]:
    """Few distinct values: many ties, for stable=True."""
    return lambda: torch.randint(0, 3, shape).float()


S3 = (2, 5, 7)
S4 = (2, 3, 4, 6)

CASES = [
    case("topk", lambda x: torch.topk(x, 3), S3),
    case("topk-values", lambda x: x.topk(2).values * 2, S4),
    case("topk-smallest", lambda x: torch.topk(x, 4, largest=False), S3),
    case("topk-dim1", lambda x: torch.topk(x, 2, dim=1), S4),
    case("topk-dim0-smallest", lambda x: x.topk(1, 0, largest=False), S3),
    case("topk-int", lambda x: torch.topk(x, 3), distinct_ints(4, 6)),
    case("topk-int-smallest", lambda x: torch.topk(x, 3, largest=False), distinct_ints(4, 6)),
    case("topk-all", lambda x: torch.topk(x, 7), S3),
    case("sort", lambda x: torch.sort(x), S3),
    case("sort-descending", lambda x: x.sort(descending=True), S3),
    case("sort-dim1", lambda x: torch.sort(x, dim=1), S4),
    case("sort-dim0-desc", lambda x: x.sort(0, True), S3),
    case("sort-1d", lambda x: torch.sort(x), (9,)),
    case("sort-int", lambda x: torch.sort(x, 1), distinct_ints(3, 5, 4)),
    case("sort-stable", lambda x: torch.sort(x, stable=True), ties(3, 10)),
    case(
        "sort-stable-desc",
        lambda x: torch.sort(x, dim=0, descending=True, stable=True),
        ties(12, 3),
    ),
    case("argsort", lambda x: torch.argsort(x), S3),
    case("argsort-desc-dim", lambda x: x.argsort(1, descending=True), S4),
    case("argsort-stable", lambda x: torch.argsort(x, stable=True), ties(4, 9)),
    case("msort", lambda x: torch.msort(x), S3),
    case("kthvalue", lambda x: torch.kthvalue(x, 2), S3),
    case("kthvalue-dim-keep", lambda x: x.kthvalue(3, 1, keepdim=True), S4),
    case("median", lambda x: torch.median(x), S3),
    case("median-dim", lambda x: x.median(1), S3),
    case("median-even-keep", lambda x: torch.median(x, -1, keepdim=True), S4),
    case(
        "topk-unsorted",
        lambda x: torch.topk(x, 3, sorted=False),
        S3,
        refuses={b: "sorted=True" for b in ("keras", "tflite")},
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_sort(case, backend, channels_last):
    case.check(backend, channels_last)
