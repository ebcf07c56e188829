"""Max/avg pooling 1-d/2-d (padding, ceil_mode, count_include_pad), adaptive pooling, flatten."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, Fn, case, params
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
    case("max3d-ceil", nn.MaxPool3d(3, stride=2, ceil_mode=True), (1, 2, 6, 7, 8)),
    case("max3d-anisotropic", nn.MaxPool3d((1, 2, 3), stride=(1, 2, 1)), (2, 2, 4, 6, 6)),
    case("max3d-depth-only", nn.MaxPool3d((2, 1, 1)), S3),
    case("max3d-relu", nn.Sequential(nn.MaxPool3d(2), nn.ReLU()), S3),
    case("avg3d-pad", nn.AvgPool3d(3, 2, padding=1), S3),
    case("avg3d-ceil", nn.AvgPool3d(3, 2, padding=1, ceil_mode=True), (1, 2, 7, 6, 5)),
    case("avg3d-divisor", nn.AvgPool3d(2, divisor_override=3), S3),
    case("avg2d-divisor", nn.AvgPool2d(3, 2, padding=1, divisor_override=5), S2),
    case("aten-avg-pool3d", lambda x: torch.ops.aten.avg_pool3d(x, [2, 2, 2], [2, 2, 2]), S3),
    # return_indices with unused indices
    case("max1d-indices", lambda x: F.max_pool1d(x, 2, return_indices=True)[0], S1),
    case("max2d-indices", lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True)[0], S2),
    case("max3d-indices", lambda x: F.max_pool3d(x, 2, return_indices=True)[0], S3),
    case(
        "max2d-indices-module",
        nn.Sequential(nn.MaxPool2d(2, return_indices=True), Fn(lambda t: t[0])),
        S2,
    ),
    case("aten-max2d-indices", lambda x: torch.ops.aten.max_pool2d_with_indices(x, [2, 2])[0], S2),
    case(
        "aten-max3d-indices", lambda x: torch.ops.aten.max_pool3d_with_indices(x, [2, 2, 2])[0], S3
    ),
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
    case("adaptive-avg1d-5", nn.AdaptiveAvgPool1d(5), S1),
    case("adaptive-avg1d-up", nn.AdaptiveAvgPool1d(20), S1),
    case("adaptive-avg2d-3", nn.AdaptiveAvgPool2d(3), S2),
    case("adaptive-avg2d-3x5", nn.AdaptiveAvgPool2d((3, 5)), (1, 3, 7, 10)),
    case("adaptive-avg2d-none", nn.AdaptiveAvgPool2d((None, 3)), S2),
    case("adaptive-avg3d-2", nn.AdaptiveAvgPool3d(2), S3),
    case("adaptive-avg3d-1", nn.AdaptiveAvgPool3d(1), S3),
    case("adaptive-avg3d-4x3x5", nn.AdaptiveAvgPool3d((4, 3, 5)), S3),
    case("aten-adaptive-avg3d", lambda x: torch.ops.aten._adaptive_avg_pool3d(x, [3, 2, 3]), S3),
    case("adaptive-max1d-3", nn.AdaptiveMaxPool1d(3), S1),
    case("adaptive-max1d-5", nn.AdaptiveMaxPool1d(5), S1),
    case("adaptive-max2d-3", nn.AdaptiveMaxPool2d(3), S2),
    case("adaptive-max2d-5x4", nn.AdaptiveMaxPool2d((5, 4)), (1, 3, 7, 10)),
    case("adaptive-max3d-2", nn.AdaptiveMaxPool3d(2), S3),
    case("adaptive-max3d-4", nn.AdaptiveMaxPool3d((4, 3, 5)), S3),
    case(
        "adaptive-max2d-indices", lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True)[0], S2
    ),
    case(
        "max2d-indices-used",
        lambda x: F.max_pool2d(x, 2, return_indices=True)[1].float(),
        S2,
        refuses={"keras": "indices are used", "tflite": "indices are used"},
    ),
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
