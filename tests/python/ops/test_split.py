"""split / split_with_sizes / chunk / unbind and stack, on the Keras back end.

Every case runs with inputs and outputs in PyTorch order and in TensorFlow order (rank >= 3),
on fresh inputs, within 1e-5 of PyTorch.
"""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params

S4, S3, S2 = (1, 6, 5, 4), (2, 7, 6), (5, 3)

CASES = [
    # split by an int: the last piece is shorter when the size does not divide
    case("split-channels", lambda x: x.split(2, 1), S4),
    case("split-uneven", lambda x: torch.split(x, 3, dim=1), S3),
    case("split-last", lambda x: torch.split(x, 2, -1), S4),
    case("split-height", lambda x: x.split(2, dim=2), S4),
    case("split-batch", lambda x: x.split(1), S3),
    case("split-larger-than-dim", lambda x: x.split(10, 1), S3),
    # split by a list of sizes
    case("split-list", lambda x: x.split([1, 2, 3], 1), S4),
    case("split-list-empty-piece", lambda x: torch.split(x, [4, 0, 3], 1), S3),
    case("split-with-sizes", lambda x: torch.split_with_sizes(x, [2, 3], -2), S4),
    case("split-with-sizes-method", lambda x: x.split_with_sizes([3, 3], dim=-1), S3),
    case("split-2d", lambda x: x.split([3, 2]), S2),
    # only some pieces used, computed on before use
    case("split-some-unused", lambda x: x.split(2, 1)[1] * 2, S4),
    case("split-qkv", lambda x: sum(p.softmax(-1) for p in x.split(2, dim=2)), S3),
    # chunk: pieces of ceil(size / chunks), so fewer than asked for when that runs out
    case("chunk-even", lambda x: x.chunk(3, 1), S4),
    case("chunk-uneven", lambda x: torch.chunk(x, 3, dim=1), S3),
    case("chunk-fewer", lambda x: torch.chunk(x, 4, -1), S3),
    case("chunk-more-than-dim", lambda x: x.chunk(8, 2), S4),
    case("chunk-2d", lambda x: x.chunk(2, 0), S2),
    # unbind drops the dim
    case("unbind-batch", lambda x: x.unbind(0), S3),
    case("unbind-channels", lambda x: torch.unbind(x, 1), S4),
    case("unbind-last", lambda x: x.unbind(-1), S4),
    case("unbind-2d", lambda x: torch.unbind(x, 1), S2),
    # stack: a new dim anywhere, negative dims from the result's rank
    case("stack-0", lambda x, y: torch.stack([x, y]), S3, S3),
    case("stack-channels", lambda x, y: torch.stack([x, y], 1), S3, S3),
    case("stack-last", lambda x, y: torch.stack((x, y, x * 2), dim=-1), S3, S3),
    case("stack-negative", lambda x, y: torch.stack([x, y], -2), S4, S4),
    case("stack-one", lambda x: torch.stack([x], 2), S3),
    case("stack-2d", lambda x, y: torch.stack([x, y], 1), S2, S2),
    # round trips
    case("unbind-stack", lambda x: torch.stack(x.unbind(1)[::-1], 1), S4),
    case("chunk-stack", lambda x: torch.stack(x.chunk(2, 1), -1), S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_split(case, backend, channels_last):
    case.check(backend, channels_last)


def test_stack_promotes_its_operands(compare):
    compare(
        lambda x, y: torch.stack([x, y], 1),
        lambda: [torch.randn(3, 4), torch.randint(-5, 5, (3, 4))],
        channels_last=False,
    )
