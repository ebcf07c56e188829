"""var / std (and their *_mean forms), logsumexp, vector norms, prod, any / all,
count_nonzero; the scans cumsum and cumprod; flip, roll, tril and triu."""

from __future__ import annotations

import math

import pytest
import torch
from op_cases import PARAMS, bools, case, ints, params, pos

torch.manual_seed(0)
S4, S3, S2 = (2, 3, 4, 4), (2, 3, 8), (3, 5)
INF, NAN = math.inf, math.nan


def with_rows(rows: dict[int, list[float]], *shape: int):
    """A standard-normal draw of `shape` ([..., n]) with the given last-dim rows of its 2-D view
    replaced (row index -> n values)."""

    def make() -> torch.Tensor:
        x = torch.randn(shape).reshape(-1, shape[-1])
        for i, values in rows.items():
            x[i] = torch.tensor(values)
        return x.reshape(shape)

    return make


def with_values(values: list[float], *shape: int):
    def make() -> torch.Tensor:
        x = torch.randn(shape).reshape(-1)
        x[: len(values)] = torch.tensor(values)
        return x.reshape(shape)

    return make


def sparse(*shape: int):
    """Floats with about half the entries exactly zero."""
    return lambda: torch.randn(shape) * (torch.rand(shape) > 0.5)


CASES = [
    # var / std
    case("var-1", lambda x: torch.var(x, 1), S4),
    case("var-1-keep", lambda x: x.var(1, keepdim=True), S4),
    case("var-all", lambda x: x.var(), S4),
    case("var-hw-biased", lambda x: x.var((2, 3), unbiased=False), S4),
    case("var-correction0", lambda x: torch.var(x, dim=[1, 3], correction=0), S4),
    case("var-correction2", lambda x: torch.var(x, dim=-1, correction=2, keepdim=True), S3),
    case("var-correction-too-big", lambda x: torch.var(x, dim=0, correction=2), S2),
    case("std-1", lambda x: torch.std(x, 1), S4),
    case("std-all-biased", lambda x: x.std(unbiased=False), S3),
    case("std-last-keep", lambda x: x.std(-1, keepdim=True), S3),
    case("var_mean", lambda x: torch.var_mean(x, 1), S4),
    case("std_mean-keep", lambda x: torch.std_mean(x, (2, 3), keepdim=True), S4),
    case("std_mean-all", lambda x: torch.std_mean(x, correction=0), S2),
    # logsumexp: -inf rows stay -inf, +inf rows inf
    case("logsumexp-1", lambda x: torch.logsumexp(x, 1), S4),
    case("logsumexp-last-keep", lambda x: x.logsumexp(-1, keepdim=True), S3),
    case("logsumexp-hw", lambda x: torch.logsumexp(x, (2, 3)), S4),
    case("logsumexp-large", lambda x: torch.logsumexp(x * 100, 1), S3),
    case(
        "logsumexp-inf-rows",
        lambda x: torch.logsumexp(x, -1),
        with_rows({0: [-INF] * 5, 1: [INF, 1.0, 2.0, -INF, 0.0]}, *S2),
    ),
    # vector norms
    case("norm", lambda x: torch.norm(x), S4),
    case("norm-dim", lambda x: torch.norm(x, dim=1), S4),
    case("norm-p1", lambda x: x.norm(p=1, dim=(2, 3)), S4),
    case("norm-fro-keep", lambda x: torch.norm(x, p="fro", dim=(1, 2), keepdim=True), S4),
    case("norm-inf", lambda x: torch.norm(x, p=INF, dim=-1), S3),
    case("norm-p3", lambda x: x.norm(3, dim=1), S3),
    case(
        "norm-nuc",
        lambda x: torch.norm(x, p="nuc"),
        S2,
        refuses={"keras": "matrix norm", "tflite": "matrix norm"},
    ),
    case("vector_norm", lambda x: torch.linalg.vector_norm(x, dim=1), S4),
    case("vector_norm-inf", lambda x: torch.linalg.vector_norm(x, ord=INF, dim=(2, 3)), S4),
    case("vector_norm-neg-inf", lambda x: torch.linalg.vector_norm(x, ord=-INF, dim=1), S4),
    case("vector_norm-0", lambda x: torch.linalg.vector_norm(x, ord=0, dim=-1), sparse(*S3)),
    case("vector_norm-half", lambda x: torch.linalg.vector_norm(x, ord=0.5, dim=1), S3),
    case("vector_norm-neg1", lambda x: torch.linalg.vector_norm(x, ord=-1, dim=1), S3),
    case("vector_norm-keep-all", lambda x: torch.linalg.vector_norm(x, keepdim=True), S2),
    # prod
    case("prod-all", lambda x: torch.prod(x), pos(*S3)),
    case("prod-dim", lambda x: x.prod(1), S4),
    case("prod-dim-keep", lambda x: x.prod(-1, keepdim=True), S3),
    case("prod-int", lambda x: x.prod(1), ints(4, *S2, low=-3)),
    # any / all
    case("any", lambda x: x.any(), bools(*S3)),
    case("any-dim", lambda x: torch.any(x > 0.5, 1), S4),
    case("any-dims-keep", lambda x: x.any((2, 3), keepdim=True), bools(*S4)),
    case("any-float", lambda x: x.any(-1), sparse(*S3)),
    case("all", lambda x: torch.all(x > -1.5), S4),
    case("all-dim", lambda x: x.all(1), bools(*S4)),
    case("all-dims", lambda x: torch.all(x > -1, dim=(0, 2)), S3),
    case("all-int", lambda x: x.all(0), ints(3, *S2)),
    # count_nonzero
    case("count_nonzero", torch.count_nonzero, sparse(*S3)),
    case("count_nonzero-dim", lambda x: torch.count_nonzero(x, 1), sparse(*S4)),
    case("count_nonzero-dims", lambda x: x.count_nonzero((2, 3)), sparse(*S4)),
    # cumsum / cumprod
    case("cumsum-1", lambda x: torch.cumsum(x, 1), S4),
    case("cumsum-last", lambda x: x.cumsum(-1), S3),
    case("cumsum-0", lambda x: x.cumsum(0), S2),
    case("cumsum_", lambda x: (x * 1).cumsum_(2), S4),
    case("cumsum-int", lambda x: x.cumsum(1), ints(10, *S2, low=-10)),
    case("cumsum-bool", lambda x: (x > 0).cumsum(-1), S3),
    case("cumsum-dtype", lambda x: torch.cumsum(x, 1, dtype=torch.float32), ints(10, *S3)),
    case("cumprod-1", lambda x: torch.cumprod(x, 1), S4),
    case("cumprod-last-8", lambda x: x.cumprod(-1), pos(*S3)),
    case("cumprod-5", lambda x: x.cumprod(1), (2, 5, 3)),
    case("cumprod-int", lambda x: x.cumprod(1), ints(4, *S2, low=-3)),
    case("cumprod-long", lambda x: x.cumprod(0), lambda: torch.rand(37, 2) + 0.5),
    # flip / roll
    case("flip-1", lambda x: torch.flip(x, [1]), S4),
    case("flip-hw", lambda x: x.flip((2, 3)), S4),
    case("flip-all", lambda x: x.flip((0, 1, 2, 3)), S4),
    case("flip-last", lambda x: x.flip(-1), S3),
    case("flip-int", lambda x: x.flip(0), ints(10, *S2)),
    case("flip-bool", lambda x: (x > 0).flip(1), S3),
    case("fliplr", torch.fliplr, S2),
    case("flipud", lambda x: x.flipud(), S3),
    case("roll-1", lambda x: torch.roll(x, 1, 1), S4),
    case("roll-neg", lambda x: x.roll(-2, -1), S4),
    case("roll-two-dims", lambda x: torch.roll(x, (1, 5), (2, 3)), S4),
    case("roll-flat", lambda x: torch.roll(x, 7), S3),
    case("roll-full-turn", lambda x: x.roll(3, 1), S4),
    case("roll-int", lambda x: x.roll(2, 0), ints(10, *S2)),
    # tril / triu: a mask, so inf and NaN stay exact
    case("tril", torch.tril, S2),
    case("tril-1", lambda x: x.tril(1), S4),
    case("tril-neg", lambda x: torch.tril(x, -2), S4),
    case("triu", lambda x: x.triu(), S3),
    case("triu-2", lambda x: torch.triu(x, 2), (3, 6)),
    case("triu-wide-neg", lambda x: x.triu(-1), (2, 3, 4, 7)),
    case("tril-inf", lambda x: x.tril(), with_values([INF, -INF, NAN, INF, NAN], *S2)),
    case("triu-int", lambda x: x.triu(1), ints(10, *S2)),
    case("tril_", lambda x: (x * 1).tril_(0), S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_reduce_more(case, backend, channels_last):
    case.check(backend, channels_last)
