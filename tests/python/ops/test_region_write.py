"""Writes into a static region with steps (`x[a:b:s, ...] = v`, an in-place call on such a
view, strided `slice_scatter`): the TF-level `slice_update`. Both back ends, both channel
orders (a channels-last tensor sees the region's axes permuted), fresh inputs.
"""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, ints, params


def slice_relu(x: torch.Tensor) -> torch.Tensor:
    """nobuco's README benchmark: the in-place ReLU of a view, assigned back to it."""
    y = x * 1
    y[:, 1:2, 16:25, 8::2] = torch.relu_(y[:, 1:2, 16:25, 8::2])
    return y


def relu_of_view(x: torch.Tensor) -> torch.Tensor:
    y = x * 1
    torch.relu_(y[:, 1:2, 16:25, 8::2])
    return y


def assign(index, value=None):
    """`y[index] = value` (a tensor argument when value is None) on a copy of x."""

    def fn(x: torch.Tensor, *v: torch.Tensor) -> torch.Tensor:
        y = x * 1
        y[index] = v[0] if value is None else value
        return y

    return fn


def negate_view(index):
    """An in-place call on the view: the base takes the negated region."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        y = x + 0
        y[index].mul_(-1)
        return y

    return fn


class ConvThen(torch.nn.Module):
    """A convolution first, so the written tensor is channels-last inside the TFLite model
    when the model's inputs are (the region's axes are permuted)."""

    def __init__(self, write) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.write = write

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.write(self.conv(x))


def assign_different(x: torch.Tensor) -> torch.Tensor:
    """The value read from the region, changed, is another value: both writes stay."""
    y = x * 1
    v = torch.relu_(y[:, :, 1::2])
    y[:, :, 1::2] = v * 2
    return y


def write_between(x: torch.Tensor) -> torch.Tensor:
    """Another write to the base between the two: the assignment must restore the view."""
    y = x * 1
    v = y[:, :, ::2].clone()
    y[:, :, ::2] = 5.0
    y[:, :, ::2] = v
    return y


S4 = (2, 3, 7, 8)
E = slice(None)
CASES = [
    case("nobuco-slice-relu", slice_relu, (1, 3, 32, 32)),
    case("nobuco-relu-of-view", relu_of_view, (1, 3, 32, 32)),
    case("nobuco-conv-slice-relu", ConvThen(slice_relu), (1, 3, 32, 32)),
    case(
        "conv-step-three-axes",
        ConvThen(negate_view((E, slice(1, None), slice(None, None, 2), slice(2, 9, 3)))),
        (2, 3, 9, 10),
    ),
    case("step-one-axis", negate_view((E, E, E, slice(1, None, 3))), S4),
    case("step-two-axes", negate_view((E, slice(None, None, 2), slice(1, 6, 2))), S4),
    case(
        "step-three-axes",
        negate_view((slice(1, None), slice(None, None, 2), slice(2, None, 3), slice(1, 8, 2))),
        S4,
    ),
    case("step-all-axes", negate_view((slice(None, None, 2),) * 4), S4),
    case("negative-start", negate_view((E, slice(-2, None), slice(-6, None, 2))), S4),
    case("negative-stop", negate_view((E, E, E, slice(-7, -1, 3))), S4),
    # 2, 4, 6 of 7: the last written position has no room for a whole group after it.
    case("stop-not-multiple", negate_view((E, E, slice(2, 7, 2))), S4),
    case("stop-inside", negate_view((E, E, slice(0, 5, 3), slice(1, 6, 4))), S4),
    case("step-beyond-axis", negate_view((E, slice(1, None, 5), slice(None, None, 10))), S4),
    case("edges", negate_view((E, slice(0, 1), slice(-1, None), slice(None, None, 7))), S4),
    case("edges-last", negate_view((E, slice(2, None), E, slice(1, None, 2))), S4),
    case("one-position", negate_view((E, E, slice(3, 4, 5), slice(6, 7))), S4),
    case("contiguous", negate_view((E, slice(1, 2), slice(2, 5), slice(3, 8))), S4),
    case("whole", negate_view((E, E, E)), S4),
    case("scalar-strided", assign((E, E, slice(None, None, 2)), 0.0), S4),
    case("broadcast-value", assign((Ellipsis, slice(1, None, 3))), S4, (7, 1)),
    case("integer-index-strided", assign((E, 1, slice(None, None, 2))), S4, (2, 4, 8)),
    case("int-strided", assign((E, slice(None, None, 2)), 7), ints(9, 2, 5, 6)),
    case(
        "rank5-strided",
        negate_view((E, slice(1, None, 2), E, slice(None, None, 2))),
        (1, 3, 4, 5, 3),
    ),
    # Rank 6 has no STRIDED_SLICE to read the region back: written, not read.
    case(
        "rank6-strided",
        assign((E, E, slice(None, None, 2), E, E, slice(1, None, 2)), 2.5),
        (1, 2, 3, 2, 2, 4),
    ),
    case("assign-different-value", assign_different, S4),
    case("write-between", write_between, S4),
    case(
        "slice-scatter-strided-end", lambda x, s: x.slice_scatter(s, 3, 2, 7, 2), S4, (2, 3, 7, 3)
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_region_writes(case, backend, channels_last):
    case.check(backend, channels_last)
