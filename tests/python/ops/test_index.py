"""Reading and writing by index: gather, index_select, take_along_dim, advanced indexing
(`x[idx]`, several index tensors, None and slices mixed), one_hot, diagonal, cdist; and the
writes: scatter, scatter_add, scatter_reduce, index_put (`x[idx] = v`, `x[mask] = v`),
select_scatter, slice_scatter. Both back ends, both channel orders, fresh inputs.

Index inputs are int64 in range (negative ones too, which PyTorch wraps); overwriting writes
use distinct positions (PyTorch leaves duplicates undefined).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, bools, case, ints, params


def perm_index(n: int, *shape: int, dim: int) -> Callable[[], torch.Tensor]:
    """Distinct positions along `dim` (each row of `dim` a prefix of a permutation of n)."""

    def make() -> torch.Tensor:
        moved = list(shape)
        k = moved.pop(dim)
        rows = int(torch.tensor(moved).prod()) if moved else 1
        idx = torch.stack([torch.randperm(n)[:k] for _ in range(rows)])
        return idx.reshape(*moved, k).movedim(-1, dim).contiguous()

    return make


S3 = (2, 5, 6)
S4 = (2, 3, 4, 5)

READS = [
    case("gather-dim1", lambda x, i: torch.gather(x, 1, i), S3, ints(5, 2, 3, 6)),
    case("gather-last", lambda x, i: x.gather(-1, i), S4, ints(5, 2, 3, 4, 2)),
    case("gather-smaller", lambda x, i: torch.gather(x, 0, i), S3, ints(2, 1, 4, 3)),
    case("gather-1d", lambda x, i: torch.gather(x, 0, i), (7,), ints(7, 4)),
    case("index-select", lambda x, i: torch.index_select(x, 1, i), S4, ints(3, 5)),
    case("index-select-last", lambda x, i: x.index_select(-1, i), S3, ints(6, 4)),
    case("index-select-0d", lambda x, i: x.index_select(0, i[0]), S3, ints(2, 1)),
    case(
        "take-along-dim", lambda x, i: torch.take_along_dim(x, i, 2), S3, ints(6, 2, 5, 3, low=-6)
    ),
    case(
        "take-along-dim-broadcast", lambda x, i: torch.take_along_dim(x, i, 1), S3, ints(5, 1, 4, 6)
    ),
    case("take-along-flat", lambda x, i: torch.take_along_dim(x, i), S3, ints(60, 7)),
    case("take-argsort", lambda x: torch.take_along_dim(x, x.argmax(1, keepdim=True), 1), S3),
    # advanced indexing
    case("getitem-tensor", lambda x, i: x[i], S3, ints(2, 4)),
    case("getitem-dim1", lambda x, i: x[:, i], S4, ints(3, 5, low=-3)),
    case("getitem-ellipsis", lambda x, i: x[..., i], S4, ints(5, 2, 3)),
    case("getitem-2d-index", lambda x, i: x[:, i], S3, ints(5, 2, 3)),
    case("getitem-two", lambda x, i, j: x[i, j], S3, ints(2, 4), ints(5, 4)),
    case("getitem-two-broadcast", lambda x, i, j: x[:, i, j], S4, ints(3, 3, 1), ints(4, 1, 2)),
    case("getitem-split", lambda x, i, j: x[i, :, j], S3, ints(2, 4), ints(6, 4)),
    case("getitem-slice-then-index", lambda x, i: x[1:, i], S3, ints(5, 3)),
    case("getitem-none", lambda x, i: x[None, :, i], S3, ints(5, 3)),
    case(
        "getitem-all-three", lambda x, i, j, k: x[i, j, k], S3, ints(2, 7), ints(5, 7), ints(6, 7)
    ),
    case("embedding-like", lambda w, i: w[i], (10, 4), ints(10, 2, 3)),
    case("one-hot", lambda i: F.one_hot(i, 5), ints(5, 3, 4)),
    case("one-hot-float", lambda x, i: x * F.one_hot(i, 6).float(), (2, 3, 6), ints(6, 2, 3)),
    case("diagonal", lambda x: torch.diagonal(x), (5, 5)),
    case("diagonal-offset", lambda x: x.diagonal(1), (4, 6)),
    case("diagonal-negative", lambda x: torch.diagonal(x, -2), (6, 4)),
    case("diagonal-dims", lambda x: torch.diagonal(x, 0, 1, 2), S3),
    case("diagonal-dims-swapped", lambda x: torch.diagonal(x, 1, 2, 0), (4, 3, 5)),
    case("cdist", lambda a, b: torch.cdist(a, b), (2, 5, 3), (2, 4, 3), tol=1e-4),
    case("pdist", lambda x: F.pdist(x), (6, 3), tol=1e-4),
    case("pdist-p1", lambda x: torch.pdist(x, p=1), (5, 4)),
    case("take", lambda x, i: torch.take(x, i), S3, ints(60, 3, 4, low=-60)),
    case("take-method", lambda x, i: x.take(i), (4, 5), ints(20, 7)),
    case("cdist-p1", lambda a, b: torch.cdist(a, b, p=1), (5, 3), (4, 3)),
    case("cdist-p3", lambda a, b: torch.cdist(a, b, p=3.0), (5, 3), (4, 3), tol=1e-4),
    case("cdist-inf", lambda a, b: torch.cdist(a, b, p=float("inf")), (5, 3), (6, 3)),
]


def put(x: torch.Tensor, i: torch.Tensor, v: float = 0.0) -> torch.Tensor:
    y = x.clone()
    y[i] = v
    return y


def put_dim1(x: torch.Tensor, i: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, i] = v
    return y


def put_mask(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[m] = 2.0
    return y


def put_where(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[y > 0.5] = 0
    return y


def put_masked_from(x: torch.Tensor, o: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[m] = o[m]
    return y


def put_rows_mask(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[m] = -1.0
    return y


def add_at(x: torch.Tensor, i: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[i] += v
    return y


WRITES = [
    case("scatter-src", lambda x, i, s: x.scatter(1, i, s), S3, perm_index(5, 2, 3, 6, dim=1), S3),
    case(
        "scatter-value", lambda x, i: torch.scatter(x, 2, i, 1.5), S3, perm_index(6, 2, 5, 2, dim=2)
    ),
    case(
        "scatter-inplace",
        lambda x, i, s: x.clone().scatter_(0, i, s),
        S3,
        perm_index(2, 2, 5, 6, dim=0),
        S3,
    ),
    case(
        "scatter-add-reduce",
        lambda x, i, s: x.scatter(1, i, s, reduce="add"),
        S3,
        ints(5, 2, 4, 6),
        S3,
    ),
    case(
        "scatter-multiply",
        lambda x, i, s: x.scatter(1, i, s, reduce="multiply"),
        S3,
        ints(5, 2, 4, 6),
        S3,
    ),
    case(
        "scatter-add",
        lambda x, i, s: torch.scatter_add(x, 1, i, s),
        S3,
        ints(5, 2, 7, 6),
        (2, 7, 6),
    ),
    case("scatter-add-last", lambda x, i, s: x.scatter_add(-1, i, s), S4, ints(5, 2, 3, 4, 3), S4),
    case("scatter-add-int", lambda x, i: x.scatter_add(0, i, i), ints(9, 4, 3), ints(4, 6, 3)),
    *[
        case(
            f"scatter-reduce-{r}-{'self' if s else 'noself'}",
            lambda x, i, src, r=r, s=s: x.scatter_reduce(1, i, src, r, include_self=s),
            S3,
            ints(5, 2, 7, 6),
            (2, 7, 6),
        )
        for r in ("sum", "prod", "mean", "amax", "amin")
        for s in (True, False)
    ],
    case(
        "scatter-reduce-amax-smaller",
        lambda x, i, s: x.scatter_reduce(0, i, s, "amax"),
        S3,
        ints(2, 3, 4, 5),
        (3, 5, 6),
    ),
    case("index-put", lambda x, i: put(x, i, 3.0), S3, perm_index(2, 1, dim=0)),
    case("index-put-dim1", put_dim1, S3, perm_index(5, 3, dim=0), (2, 3, 6)),
    case(
        "index-put-broadcast", lambda x, i, v: put_dim1(x, i, v), S3, perm_index(5, 2, dim=0), (6,)
    ),
    case("index-put-add-inplace", add_at, (7, 3), perm_index(7, 5, dim=0), (5, 3)),
    case(
        "index-put-fn",
        lambda x, i, v: torch.index_put(x, (i,), v, accumulate=True),
        (8,),
        ints(8, 12),
        (12,),
    ),
    case("index-put-mask", put_mask, S3, bools(*S3)),
    case("index-put-where", put_where, S3),
    case("index-put-masked-from", put_masked_from, S3, S3, bools(*S3)),
    case("index-put-rows-mask", put_rows_mask, S3, bools(2, 5)),
    case("select-scatter", lambda x, s: torch.select_scatter(x, s, 1, 2), S3, (2, 6)),
    case("select-scatter-negative", lambda x, s: x.select_scatter(s, 0, -1), S3, (5, 6)),
    case("slice-scatter", lambda x, s: torch.slice_scatter(x, s, 2, 1, 5, 2), S3, (2, 5, 2)),
    case("slice-scatter-dim0", lambda x, s: x.slice_scatter(s, start=1), S3, (1, 5, 6)),
]

W = torch.randn(10, 4)  # an embedding table, as a constant of the model


def bag(mode: str, **kw) -> Callable[..., torch.Tensor]:
    return lambda i, o: F.embedding_bag(i, W, o, mode=mode, **kw)


def offsets(*values: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.tensor(values)


def mask_scatter(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return x.masked_scatter(m, s)


BAGS = [
    *[
        case(f"embedding-bag-{m}", bag(m), ints(10, 9), offsets(0, 2, 2, 5))
        for m in ("sum", "mean", "max")
    ],
    case(
        "embedding-bag-last-offset",
        bag("sum", include_last_offset=True),
        ints(10, 9),
        offsets(0, 3, 7),
    ),
    case("embedding-bag-padding", bag("mean", padding_idx=2), ints(4, 8), offsets(0, 4)),
    case(
        "embedding-bag-weights",
        lambda i, o, w: F.embedding_bag(i, W, o, mode="sum", per_sample_weights=w),
        ints(10, 6),
        offsets(0, 1, 4),
        (6,),
    ),
    case("embedding-bag-2d-mean", lambda i: F.embedding_bag(i, W), ints(10, 3, 5)),
    case("embedding-bag-2d-max", lambda i: F.embedding_bag(i, W, mode="max"), ints(10, 3, 5)),
    case(
        "embedding-bag-2d-padding",
        lambda i: F.embedding_bag(i, W, mode="sum", padding_idx=0),
        ints(3, 3, 5),
    ),
    case(
        "embedding-bag-module", torch.nn.EmbeddingBag(10, 4, mode="max"), ints(10, 7), offsets(0, 3)
    ),
    case("masked-scatter", mask_scatter, S3, bools(*S3), (70,)),
    case("masked-scatter-broadcast", mask_scatter, S3, bools(5, 6), S3),
]

REFUSED = [
    case(
        "getitem-mask",
        lambda x, m: x[m],
        S3,
        bools(*S3),
        refuses={b: r"boolean mask.*torch\.where" for b in ("keras", "tflite")},
    ),
    case(
        "nonzero",
        lambda x: torch.nonzero(x > 0).float(),
        S3,
        refuses={b: r"nonzero.*data-dependent" for b in ("keras", "tflite")},
    ),
    case(
        "one-hot-no-classes",
        lambda i: F.one_hot(i),
        ints(5, 4),
        refuses={b: r"num_classes" for b in ("keras", "tflite")},
    ),
]


@pytest.mark.parametrize(PARAMS, params(READS))
def test_index_reads(case, backend, channels_last):
    case.check(backend, channels_last)


@pytest.mark.parametrize(PARAMS, params(WRITES))
def test_index_writes(case, backend, channels_last):
    case.check(backend, channels_last)


@pytest.mark.parametrize(PARAMS, params(REFUSED))
def test_index_refused(case, backend, channels_last):
    case.check(backend, channels_last)


@pytest.mark.parametrize(PARAMS, params(BAGS))
def test_embedding_bag_and_masked_scatter(case, backend, channels_last):
    case.check(backend, channels_last)
