"""Convolutions 1-d/2-d/3-d: stride, dilation, groups, padding (symmetric, F.pad, modes)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, Fn, case, params
from torch import nn

torch.manual_seed(0)
S1, S2, S3 = (1, 3, 16), (1, 3, 8, 8), (1, 2, 6, 6, 6)


def padded(pads, conv):
    return nn.Sequential(Fn(lambda x: F.pad(x, pads)), conv)


class FunctionalConv(nn.Module):
    """F.conv2d with the weight and bias as parameters of this module."""

    def __init__(self, **kwargs):
        super().__init__()
        groups = kwargs.get("groups", 1)
        self.weight = nn.Parameter(torch.randn(2 * groups, 3 // groups, 3, 3))
        self.bias = nn.Parameter(torch.randn(2 * groups))
        self.kwargs = kwargs

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, **self.kwargs)


CASES = [
    # conv1d
    case("1d", nn.Conv1d(3, 4, 3), S1),
    case("1d-stride", nn.Conv1d(3, 4, 3, stride=2), S1),
    case("1d-pad", nn.Conv1d(3, 4, 3, padding=1), S1),
    case("1d-dilation", nn.Conv1d(3, 4, 3, dilation=2), S1),
    case("1d-stride-dilation-pad", nn.Conv1d(3, 4, 3, stride=2, dilation=2, padding=2), S1),
    case("1d-depthwise", nn.Conv1d(3, 3, 3, groups=3), S1),
    case("1d-depthwise-x2", nn.Conv1d(3, 6, 5, groups=3, padding=2), S1),
    case("1d-grouped", nn.Conv1d(4, 6, 3, groups=2), (1, 4, 16)),
    case("1d-nobias", nn.Conv1d(3, 4, 3, bias=False), S1),
    case("1d-same", nn.Conv1d(3, 4, 4, padding="same"), S1),
    case("1d-valid", nn.Conv1d(3, 4, 3, padding="valid"), S1),
    case("1d-fpad", padded((2, 1), nn.Conv1d(3, 4, 3)), S1),
    case("1d-unbatched", nn.Conv1d(3, 4, 3), (3, 16)),
    # conv2d
    case("2d", nn.Conv2d(3, 4, 3), S2),
    case("2d-1x1", nn.Conv2d(3, 8, 1), S2),
    case("2d-pad", nn.Conv2d(3, 4, 3, padding=1), S2),
    case("2d-pad-hw", nn.Conv2d(3, 4, (3, 1), padding=(1, 2)), S2),
    case("2d-stride", nn.Conv2d(3, 4, 3, stride=2), S2),
    case("2d-stride-pad", nn.Conv2d(3, 4, 3, stride=2, padding=1), S2),
    case("2d-stride-hw", nn.Conv2d(3, 4, (3, 2), stride=(1, 2)), S2),
    case("2d-dilation", nn.Conv2d(3, 4, 3, dilation=2), S2),
    case("2d-dilation-pad", nn.Conv2d(3, 4, 3, dilation=2, padding=2), S2),
    case("2d-stride-dilation", nn.Conv2d(3, 4, 3, stride=2, dilation=2, padding=1), S2),
    case("2d-depthwise", nn.Conv2d(3, 3, 3, groups=3, padding=1), S2),
    case("2d-depthwise-x2", nn.Conv2d(3, 6, 3, groups=3), S2),
    case("2d-depthwise-stride", nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), (1, 4, 8, 8)),
    case("2d-grouped", nn.Conv2d(4, 6, 3, groups=2), (1, 4, 8, 8)),
    case("2d-grouped-4", nn.Conv2d(8, 4, 1, groups=4), (1, 8, 6, 6)),
    case("2d-nobias", nn.Conv2d(3, 4, 3, bias=False), S2),
    case("2d-depthwise-nobias", nn.Conv2d(3, 3, 3, groups=3, bias=False), S2),
    case("2d-same", nn.Conv2d(3, 4, 3, padding="same"), S2),
    case("2d-same-even", nn.Conv2d(3, 4, (4, 2), padding="same"), S2),
    case("2d-same-dilation", nn.Conv2d(3, 4, 3, padding="same", dilation=2), S2),
    case("2d-valid", nn.Conv2d(3, 4, 3, padding="valid"), S2),
    case("2d-fpad-sym", padded((1, 1, 1, 1), nn.Conv2d(3, 4, 3)), S2),
    case("2d-fpad-asym", padded((0, 1, 0, 1), nn.Conv2d(3, 4, 3, stride=2)), S2),
    case("2d-fpad-asym2", padded((1, 2, 0, 3), nn.Conv2d(3, 4, 3)), S2),
    case("2d-zeropad", nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(3, 4, 3)), S2),
    case("2d-functional", FunctionalConv(stride=2, padding=1), S2),
    case("2d-functional-dw", FunctionalConv(groups=3, padding=(0, 1)), S2),
    case("2d-unbatched", nn.Conv2d(3, 4, 3), (3, 8, 8)),
    case("2d-batch2", nn.Conv2d(3, 4, 3), (2, 3, 8, 8)),
    # conv3d
    case("3d", nn.Conv3d(2, 4, 3), S3),
    case("3d-pad", nn.Conv3d(2, 4, 3, padding=1), S3),
    case("3d-stride", nn.Conv3d(2, 4, 3, stride=2, padding=(1, 0, 1)), S3),
    case("3d-dilation", nn.Conv3d(2, 4, 3, dilation=(1, 2, 1)), S3),
    case("3d-depthwise", nn.Conv3d(2, 4, 3, groups=2), S3),
    case("3d-grouped", nn.Conv3d(4, 2, 1, groups=2), (1, 4, 4, 4, 4)),
    case("3d-nobias", nn.Conv3d(2, 4, 3, bias=False), S3),
    case("3d-same", nn.Conv3d(2, 4, 3, padding="same"), S3),
    case("3d-fpad", padded((1, 0, 0, 1, 2, 0), nn.Conv3d(2, 4, 3)), S3),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_conv(case, backend, channels_last):
    case.check(backend, channels_last)


class FunctionalConvTranspose(nn.Module):
    """F.conv_transposeNd with the weight (and bias) as parameters of this module."""

    def __init__(self, dims: int, cin: int, cout: int, k: int, bias: bool = True, **kwargs):
        super().__init__()
        groups = kwargs.get("groups", 1)
        self.weight = nn.Parameter(torch.randn(cin, cout // groups, *[k] * dims))
        self.bias = nn.Parameter(torch.randn(cout)) if bias else None
        self.fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[dims]
        self.kwargs = kwargs

    def forward(self, x):
        return self.fn(x, self.weight, self.bias, **self.kwargs)


class AtenConvTranspose(FunctionalConvTranspose):
    """torch.ops.aten.convolution with transposed=True."""

    def forward(self, x):
        k = self.kwargs
        n = self.weight.dim() - 2
        return torch.ops.aten.convolution(
            x,
            self.weight,
            self.bias,
            [k.get("stride", 1)] * n,
            [k.get("padding", 0)] * n,
            [k.get("dilation", 1)] * n,
            True,
            [k.get("output_padding", 0)] * n,
            k.get("groups", 1),
        )


CT = nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d
TRANSPOSED_CASES = [
    # 1-D
    case("t1d", CT[0](3, 4, 3), S1),
    case("t1d-stride", CT[0](3, 4, 3, stride=2), S1),
    case("t1d-stride-pad-outpad", CT[0](3, 4, 4, stride=3, padding=1, output_padding=2), S1),
    case("t1d-dilation", CT[0](3, 4, 3, dilation=2), S1),
    case("t1d-groups", CT[0](4, 6, 3, groups=2, stride=2), (1, 4, 9)),
    case("t1d-nobias", CT[0](3, 4, 3, stride=2, bias=False), S1),
    case("t1d-unbatched", CT[0](3, 4, 3, stride=2), (3, 16)),
    case("t1d-k-lt-stride", CT[0](3, 4, 2, stride=3), S1),
    # 2-D
    case("t2d", CT[1](3, 4, 3), S2),
    case("t2d-stride2-k2", CT[1](3, 4, 2, stride=2), S2),
    case("t2d-stride-pad", CT[1](3, 4, 3, stride=2, padding=1), S2),
    case("t2d-stride-pad-outpad", CT[1](3, 4, 3, stride=2, padding=1, output_padding=1), S2),
    case("t2d-outpad-past-full", CT[1](3, 4, 3, stride=2, output_padding=1), S2),
    case("t2d-hw", CT[1](3, 4, (3, 2), stride=(2, 1), padding=(1, 0)), S2),
    case("t2d-dilation", CT[1](3, 4, 3, dilation=(2, 1), padding=1), S2),
    case("t2d-dilation-stride-outpad", CT[1](3, 4, 3, stride=2, dilation=3, output_padding=2), S2),
    case("t2d-groups", CT[1](4, 6, 3, stride=2, groups=2, padding=1), (1, 4, 6, 6)),
    case("t2d-depthwise", CT[1](4, 4, 3, stride=2, groups=4), (1, 4, 6, 6)),
    case("t2d-nobias", CT[1](3, 4, 3, stride=2, bias=False), S2),
    case("t2d-nobias-outpad", CT[1](3, 4, 3, stride=2, output_padding=1, bias=False), S2),
    case("t2d-unbatched", CT[1](3, 4, 3, stride=2), (3, 8, 8)),
    case("t2d-batch2", CT[1](3, 4, 4, stride=2, padding=1), (2, 3, 8, 8)),
    case("t2d-functional", FunctionalConvTranspose(2, 3, 4, 3, stride=2, padding=1), S2),
    case(
        "t2d-functional-groups",
        FunctionalConvTranspose(2, 4, 6, 3, groups=2, stride=2, output_padding=1),
        (1, 4, 6, 6),
    ),
    case("t2d-aten", AtenConvTranspose(2, 3, 4, 3, stride=2, padding=1, output_padding=1), S2),
    # 3-D
    case("t3d", CT[2](2, 4, 3), S3),
    case("t3d-stride-pad", CT[2](2, 4, 3, stride=2, padding=1), S3),
    case("t3d-outpad", CT[2](2, 4, 3, stride=(1, 2, 2), output_padding=(0, 1, 1)), S3),
    case("t3d-dilation-groups", CT[2](2, 4, 2, dilation=2, groups=2), S3),
    case("t3d-nobias", CT[2](2, 4, 3, stride=2, bias=False), S3),
    case("t3d-functional", FunctionalConvTranspose(3, 2, 4, 3, bias=False, stride=2), S3),
]


@pytest.mark.parametrize(PARAMS, params(TRANSPOSED_CASES))
def test_conv_transpose(case, backend, channels_last):
    case.check(backend, channels_last)


UNFOLD_CASES = [
    case("unfold", lambda x: F.unfold(x, 3), (1, 2, 6, 7)),
    case("unfold-stride-pad", lambda x: F.unfold(x, (2, 3), stride=2, padding=1), (2, 3, 7, 6)),
    case("unfold-dilation", lambda x: F.unfold(x, 2, dilation=(2, 1), stride=(1, 2)), (1, 2, 6, 6)),
    case("unfold-1x1", lambda x: F.unfold(x, 1), (1, 3, 4, 4)),
    case("unfold-unbatched", lambda x: F.unfold(x, 2, padding=(0, 1)), (2, 5, 5)),
    case("unfold-module", nn.Unfold(3, padding=1, stride=2), (1, 2, 8, 8)),
]


@pytest.mark.parametrize(PARAMS, params(UNFOLD_CASES))
def test_unfold(case, backend, channels_last):
    case.check(backend, channels_last)


FOLD_CASES = [
    case("fold", lambda x: F.fold(x, (4, 5), 2), (1, 8, 12)),
    case("fold-stride-pad", lambda x: F.fold(x, (7, 6), (2, 3), stride=2, padding=1), (2, 6, 12)),
    case("fold-dilation", lambda x: F.fold(x, 6, 2, dilation=(2, 1), stride=(1, 2)), (1, 8, 12)),
    case("fold-overlap", lambda x: F.fold(x, 5, 3), (1, 18, 9)),
    case("fold-unbatched", lambda x: F.fold(x, (5, 5), 2, padding=(0, 1)), (8, 24)),
    case("fold-module", nn.Fold((8, 8), 3, padding=1, stride=2), (1, 18, 16)),
    case(
        "fold-unfold",
        lambda x: F.fold(F.unfold(x, 3, padding=1), (6, 6), 3, padding=1),
        (1, 2, 6, 6),
    ),
]


@pytest.mark.parametrize(PARAMS, params(FOLD_CASES))
def test_fold(case, backend, channels_last):
    case.check(backend, channels_last)
