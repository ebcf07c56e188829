"""Max/avg pooling 1-d/2-d (padding, ceil_mode, count_include_pad), adaptive pooling, flatten."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params
from torch import nn

torch.manual_seed(0)
S1, S2, S3 = (1, 3, 16), (1, 3, 8, 8), (1, 2, 6, 6, 6)

CASES = [
    # max pool
    case("max1d", nn.MaxPool1d(2), S1),
    case("max1d-stride-pad", nn.MaxPool1d(3, stride=2, padding=1), S1),
    case("max1d-ceil", nn.MaxPool1d(3, stride=2, ceil_mode=True), (1, 3, 10)),
    case("max1d-ceil-pad", nn.MaxPool1d(4, stride=3, padding=2, ceil_mode=True), (1, 3, 11)),
    case("max1d-functional", lambda x: F.max_pool1d(x, 4), S1),
    case("max2d", nn.MaxPool2d(2), S2),
    case("max2d-3s2p1", nn.MaxPool2d(3, stride=2, padding=1), S2),
    case("max2d-hw", nn.MaxPool2d((2, 3), stride=(2, 1), padding=(1, 0)), S2),
    case("max2d-ceil", nn.MaxPool2d(3, stride=2, ceil_mode=True), S2),
    case("max2d-ceil-pad", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 3, 9, 9)),
    case("max2d-ceil-odd", nn.MaxPool2d(2, ceil_mode=True), (1, 3, 7, 9)),
    case("max2d-functional", lambda x: F.max_pool2d(x, 2, 1), S2),
    case("max2d-negative", lambda x: F.max_pool2d(x - 10, 3, 2, 1), S2),
    case("max3d", nn.MaxPool3d(2), S3),
    case("max3d-pad", nn.MaxPool3d(3, stride=2, padding=1), S3),
    # avg pool
    case("avg1d", nn.AvgPool1d(2), S1),
    case("avg1d-stride-pad", nn.AvgPool1d(3, stride=2, padding=1), S1),
    case("avg1d-no-count-pad", nn.AvgPool1d(3, 2, padding=1, count_include_pad=False), S1),
    case("avg1d-ceil", nn.AvgPool1d(3, stride=2, ceil_mode=True), (1, 3, 10)),
    case("avg2d", nn.AvgPool2d(2), S2),
    case("avg2d-3s2p1", nn.AvgPool2d(3, stride=2, padding=1), S2),
    case("avg2d-no-count-pad", nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), S2),
    case("avg2d-ceil", nn.AvgPool2d(3, stride=2, ceil_mode=True), S2),
    case("avg2d-ceil-pad", nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), (1, 3, 9, 9)),
    case(
        "avg2d-ceil-pad-no-count",
        nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
        (1, 3, 10, 10),
    ),
    case("avg2d-hw", nn.AvgPool2d((2, 4), stride=(1, 2), padding=(1, 2)), S2),
    case("avg2d-functional", lambda x: F.avg_pool2d(x, 4), S2),
    case("avg3d", nn.AvgPool3d(2), S3),
    case("avg3d-no-count-pad", nn.AvgPool3d(3, 2, padding=1, count_include_pad=False), S3),
    # adaptive
    case("adaptive-avg2d-1", nn.AdaptiveAvgPool2d(1), S2),
    case("adaptive-avg2d-1x1", nn.AdaptiveAvgPool2d((1, 1)), S2),
    case("adaptive-avg2d-4", nn.AdaptiveAvgPool2d(4), S2),
    case("adaptive-avg2d-2x4", nn.AdaptiveAvgPool2d((2, 4)), S2),
    case("adaptive-avg2d-functional", lambda x: F.adaptive_avg_pool2d(x, 2), S2),
    case("adaptive-avg1d-1", nn.AdaptiveAvgPool1d(1), S1),
    case("adaptive-avg1d-4", nn.AdaptiveAvgPool1d(4), S1),
    case("adaptive-max2d-1", nn.AdaptiveMaxPool2d(1), S2),
    case("adaptive-max2d-2", nn.AdaptiveMaxPool2d(2), S2),
    # flatten after pooling
    case("avgpool-flatten", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), S2),
    case("avgpool-torch.flatten", lambda x: torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), S2),
    case("avgpool-view", lambda x: F.adaptive_avg_pool2d(x, 1).view(x.shape[0], -1), S2),
    case("avgpool2-flatten", nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten()), S2),
    case("maxpool-flatten", nn.Sequential(nn.MaxPool2d(2), nn.Flatten()), S2),
    case("avgpool1d-flatten", nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()), S1),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_pool(case, backend, channels_last):
    case.check(backend, channels_last)
