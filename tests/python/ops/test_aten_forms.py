"""Core ATen forms reached when the torch-level rule is not used (here: disabled), on both
back ends: batch norm from the batch's own statistics, the aten embedding bag, atan2's out=
form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params

import ferry

torch.manual_seed(0)
W, B, TABLE = torch.randn(3), torch.randn(3), torch.randn(10, 4)


def bag(mode: str):
    return lambda i, o: F.embedding_bag(i, TABLE, o, mode=mode)


def indices():
    return torch.randint(0, 10, (7,))


def offsets():
    return torch.tensor([0, 2, 5])


CASES = [
    case(
        "batch-statistics", lambda x: F.batch_norm(x, None, None, W, B, training=True), (2, 3, 4, 5)
    ),
    case("batch-statistics-2d", lambda x: F.batch_norm(x, None, None, training=True), (6, 3)),
    case("embedding-bag-sum", bag("sum"), indices, offsets),
    case("embedding-bag-mean", bag("mean"), indices, offsets),
    case("embedding-bag-max", bag("max"), indices, offsets),
    case("atan2-out", lambda a, b: torch.atan2(a, b, out=torch.empty(2, 3)), (2, 3), (2, 3)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_aten_forms(case, backend, channels_last):
    with ferry.disabled_rules(F.batch_norm, F.embedding_bag):
        case.check(backend, channels_last)
