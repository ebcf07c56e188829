"""Which TFLite ops a write into a strided region becomes: unit-stride STRIDED_SLICE, RESHAPE and
CONCATENATION (what XNNPACK runs), never GATHER, SELECT_V2 or a scatter; and an assignment of
the value an in-place call just wrote into the same region is not written a second time.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")

from litert_cases import ops_of, run  # noqa: E402

import ferry  # noqa: E402

NOT_DELEGATED = {"GATHER", "GATHER_ND", "SELECT_V2", "SCATTER_ND", "DYNAMIC_UPDATE_SLICE"}


class SliceReLU(nn.Module):
    """nobuco's README benchmark, behind a convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


def test_nobuco_slice_relu_is_one_region_write_of_slices_and_concatenations():
    torch.manual_seed(0)
    data = ferry.pytorch_to_tflite(  # validated against PyTorch on the way
        SliceReLU().eval(),
        [torch.randn(1, 3, 64, 64)],
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    counts = Counter(op for op, _ in ops_of(data))
    # The tensor is [1, 64, 64, 3] inside. The read: one STRIDED_SLICE (step 2) and the RELU.
    # The one write: rows 16..24 cut out (3 slices), their columns 0..7 kept and columns
    # 8, 10, .. interleaved through a [9, 28, 2, 3] view (2 slices, column 0 and the kept
    # column 1), channel 1 replaced in column 0 (2 slices), joined by 4 CONCATENATIONs and 4
    # RESHAPEs. A second write of the same value would double these.
    assert counts == Counter(
        {"CONV_2D": 1, "RELU": 1, "STRIDED_SLICE": 1 + 9, "RESHAPE": 4, "CONCATENATION": 4}
    )
    assert not NOT_DELEGATED & set(counts)


def test_pytorch_order_writes_no_gather_either():
    ops = run(SliceReLU(), [(1, 3, 40, 40)])
    names = Counter(op for op, _ in ops)
    assert not NOT_DELEGATED & set(names)
    assert names["CONCATENATION"] == 4  # one write


def test_a_changed_value_is_written_again():
    def relu_then_double(x: torch.Tensor) -> torch.Tensor:
        y = x * 1
        v = torch.relu_(y[:, :, 1::2])
        y[:, :, 1::2] = v * 2
        return y

    names = Counter(op for op, _ in run(relu_then_double, [(2, 3, 6, 8)]))
    # Each write along the last axis: the [.., 4, 2, 1] view's two columns joined, then the
    # first column put back: 2 CONCATENATIONs per write.
    assert names["CONCATENATION"] == 4
    assert not NOT_DELEGATED & set(names)
