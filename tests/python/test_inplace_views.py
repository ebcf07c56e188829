"""In-place writes into views made by other calls (python/ferry/inplace.py), on both back ends.

Split, chunk, unbind and narrow hand back views of their input; a later in-place write into
one of them changes the input too, and the converted model must compute that. Each model
runs against PyTorch on fresh inputs in both channel orders (tests/python/op_cases.py).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params

import ferry


def relu_inplace_then_split(x: torch.Tensor) -> torch.Tensor:
    y = F.relu(x * 2, inplace=True)
    a, b = torch.split(y, 2, dim=1)
    return a * b


def relu_inplace_then_chunk_and_unbind(x: torch.Tensor) -> torch.Tensor:
    y = x * 2
    torch.relu_(y)
    a, b = y.chunk(2, 1)
    return a - b + y.unbind(0)[0][:2]


def write_into_a_split_piece(x: torch.Tensor) -> torch.Tensor:
    y = x * 1.0
    parts = y.split([1, 3], 1)
    parts[1].mul_(3)
    return y + 1


def write_into_a_chunk(x: torch.Tensor) -> torch.Tensor:
    y = x + 0
    y.chunk(3, -1)[2].clamp_(min=0)
    return y


def write_into_an_unbound_slice(x: torch.Tensor) -> torch.Tensor:
    y = x + 0
    y.unbind(1)[1].add_(5)
    return y


def write_into_a_narrowed_view(x: torch.Tensor) -> torch.Tensor:
    y = x - 1
    y.narrow(2, 1, 2).zero_()
    return y * 2


def write_into_a_view_of_a_view(x: torch.Tensor) -> torch.Tensor:
    y = x * 3
    y.split(2, 1)[1][:, :, ::2].fill_(0.5)
    return y


S = (2, 4, 6)
CASES = [
    case("relu-inplace-split", relu_inplace_then_split, S),
    case("relu-inplace-chunk-unbind", relu_inplace_then_chunk_and_unbind, (1, 4, 3)),
    case("write-split-piece", write_into_a_split_piece, S),
    case("write-chunk", write_into_a_chunk, S),
    case("write-unbind", write_into_an_unbound_slice, S),
    case("write-narrow", write_into_a_narrowed_view, S),
    case("write-view-of-view", write_into_a_view_of_a_view, S),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_in_place_writes_into_views_of_other_calls(case, backend, channels_last):
    case.check(backend, channels_last)


def test_a_write_that_cannot_be_expressed_names_the_call():
    """A view through a permute is no slice of its base: refused, naming the writing call."""

    def write_through_transpose(x: torch.Tensor) -> torch.Tensor:
        y = x * 1.0
        y.t()[0].mul_(2)
        return y

    from op_cases import Fn

    with pytest.raises(ferry.ConversionError, match=r"the result of 'aten\.mul_\.Tensor'"):
        ferry.pytorch_to_tflite(Fn(write_through_transpose).eval(), [torch.randn(3, 4)])
