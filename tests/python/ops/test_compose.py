"""Composite torch functions: own rules (hypot, lerp, addcmul, addcdiv, Tensor.unfold) and
those that convert through their aten decomposition (einsum, repeat_interleave, diff, outer,
tensordot, meshgrid, new_full, where with numbers), on both back ends."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params, pos

S3, S4 = (2, 3, 4), (1, 2, 5, 6)


def weights(*shape: int):
    """Weights around 0.5 and beyond 1, where lerp switches formulas."""
    return lambda: torch.rand(shape) * 2 - 0.5


CASES = [
    case("hypot", lambda a, b: torch.hypot(a, b), S3, S3),
    case("hypot-broadcast", lambda a, b: a.hypot(b), S4, (6,)),
    case("lerp-scalar", lambda a, b: torch.lerp(a, b, 0.3), S3, S3),
    case("lerp-scalar-high", lambda a, b: a.lerp(b, 0.75), S4, S4),
    case("lerp-tensor", lambda a, b, w: torch.lerp(a, b, w), S3, S3, weights(*S3)),
    case("addcmul", lambda a, b, c: torch.addcmul(a, b, c, value=0.5), S3, S3, S3),
    case("addcmul-broadcast", lambda a, b, c: a.addcmul(b, c), S4, (6,), (5, 1)),
    case("addcdiv", lambda a, b, c: torch.addcdiv(a, b, c, value=-2), S3, S3, pos(*S3)),
    case("unfold-last", lambda x: x.unfold(-1, 3, 2), (1, 2, 9)),
    case("unfold-middle", lambda x: x.unfold(1, 2, 1), S3),
    case("unfold-channels", lambda x: x.unfold(1, 2, 2), S4),
    case("unfold-one-window", lambda x: x.unfold(2, 4, 4), S3),
    case("einsum-bmm", lambda a, b: torch.einsum("bij,bjk->bik", a, b), S3, (2, 4, 5)),
    case("einsum-heads", lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k), S4, (1, 2, 3, 6)),
    case("einsum-outer", lambda a, b: torch.einsum("i,j->ij", a, b), (3,), (4,)),
    case("repeat-interleave", lambda x: x.repeat_interleave(2, dim=1), S3),
    case("repeat-interleave-flat", lambda x: torch.repeat_interleave(x, 3), (2, 3)),
    case("diff", lambda x: torch.diff(x, dim=-1), S3),
    case("outer", lambda a, b: torch.outer(a, b), (3,), (4,)),
    case("tensordot", lambda a, b: torch.tensordot(a, b, dims=([1, 2], [0, 1])), S3, (3, 4, 5)),
    case("meshgrid", lambda a, b: torch.stack(torch.meshgrid(a, b, indexing="ij"), 0), (3,), (4,)),
    case("new-full", lambda x: x + x.new_full((4,), 2.0), S3),
    case("where-numbers", lambda x: torch.where(x > 0, 1.0, -1.0), S3),
    case("where-number-first", lambda x: torch.where(x > 0, 0.5, x), S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_compose(case, backend, channels_last):
    case.check(backend, channels_last)
