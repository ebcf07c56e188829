"""split / chunk / unbind and stack through the direct TFLite writer.

Each case converts one PyTorch expression with PyTorch-order inputs and outputs, runs it in
LiteRT on fresh inputs and compares with PyTorch within 1e-5 x max(1, max |expected|)
(litert_cases.run). Pieces are static slices: the file holds the expected (op, version) pairs
and never a GATHER.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

pytest.importorskip("ai_edge_litert")

from litert_cases import Spec, run  # noqa: E402

S3 = (2, 7, 6)
S4 = (1, 6, 5, 4)
STRIDED_SLICE = ("STRIDED_SLICE", 1)
CONCAT = ("CONCATENATION", 1)
RESHAPE = ("RESHAPE", 1)

# (id, fn, input specs, (op, version) pairs that must appear). The pieces are joined again in
# another order so the single output depends on every one of them.
CASES: list[tuple[str, Callable[..., torch.Tensor], list[Spec], list[tuple[str, int]]]] = [
    (
        "split_int",
        lambda x: torch.cat(x.split(3, 1)[::-1], 1),
        [S3],
        [STRIDED_SLICE, CONCAT],
    ),
    (
        "split_sizes",
        lambda x: torch.cat(torch.split(x, [1, 2, 3], -1)[::-1], -1),
        [S3],
        [STRIDED_SLICE, CONCAT],
    ),
    (
        "split_with_sizes",
        lambda x: torch.cat(x.split_with_sizes([2, 3], dim=2)[::-1], 2),
        [S4],
        [STRIDED_SLICE, CONCAT],
    ),
    ("split_one_used", lambda x: x.split(2, 1)[2] * 2, [S4], [STRIDED_SLICE]),
    ("chunk_uneven", lambda x: torch.cat(torch.chunk(x, 3, 1)[::-1], 1), [S3], [STRIDED_SLICE]),
    (
        "chunk_sum",
        lambda x: sum(p.sum(1, keepdim=True) for p in x.chunk(4, -1)),
        [S3],
        [STRIDED_SLICE],
    ),
    ("unbind", lambda x: torch.stack(x.unbind(1)[::-1], 1), [S4], [STRIDED_SLICE, CONCAT]),
    ("unbind_mul", lambda x: x.unbind(-1)[0] * x.unbind(-1)[3], [S3], [STRIDED_SLICE]),
    ("stack_0", lambda x, y: torch.stack([x, y]), [S3, S3], [CONCAT, RESHAPE]),
    ("stack_last", lambda x, y: torch.stack((x, y, x + y), -1), [S3, S3], [CONCAT, RESHAPE]),
    ("stack_negative", lambda x, y: torch.stack([x, y], -3), [S4, S4], [CONCAT, RESHAPE]),
]


@pytest.mark.parametrize(
    ("fn", "specs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_op(fn, specs, expected):
    ops = run(fn, specs)
    for op in expected:
        assert op in ops, (op, ops)
    assert not any(name == "GATHER" for name, _ in ops), ops
