"""mean / sum / amax over various dims with keepdim; softmax and log_softmax; F.normalize."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params
from torch import nn

torch.manual_seed(0)
S4, S3, S2 = (1, 3, 8, 8), (2, 3, 8), (3, 5)

CASES = [
    case("mean-1", lambda x: x.mean(1), S4),
    case("mean-1-keep", lambda x: x.mean(1, keepdim=True), S4),
    case("mean-hw", lambda x: x.mean((2, 3)), S4),
    case("mean-hw-keep", lambda x: torch.mean(x, dim=(2, 3), keepdim=True), S4),
    case("mean-last", lambda x: x.mean(-1), S4),
    case("mean-last-keep", lambda x: x.mean(-1, keepdim=True), S4),
    case("mean-0", lambda x: x.mean(0), (2, 3, 4, 4)),
    case("mean-1-3", lambda x: x.mean([1, 3]), S4),
    case("mean-all", lambda x: x.mean(), S4),
    case("mean-3d", lambda x: x.mean(1), S3),
    case("mean-3d-keep", lambda x: x.mean(2, keepdim=True), S3),
    case("mean-2d", lambda x: x.mean(0), S2),
    case("sum-1", lambda x: x.sum(1), S4),
    case("sum-1-keep", lambda x: x.sum(1, keepdim=True), S4),
    case("sum-hw", lambda x: torch.sum(x, (2, 3)), S4),
    case("sum-hw-keep", lambda x: x.sum((-2, -1), keepdim=True), S4),
    case("sum-all", lambda x: x.sum(), S4),
    case("sum-3d", lambda x: x.sum(-1), S3),
    case("sum-2d", lambda x: x.sum(1, keepdim=True), S2),
    case("amax-1", lambda x: x.amax(1), S4),
    case("amax-1-keep", lambda x: torch.amax(x, 1, keepdim=True), S4),
    case("amax-hw", lambda x: x.amax((2, 3)), S4),
    case("amax-hw-keep", lambda x: x.amax((2, 3), keepdim=True), S4),
    case("amax-1-2", lambda x: torch.amax(x, dim=(1, 2)), S4),
    case("amax-3d", lambda x: x.amax(-1), S3),
    case("amax-2d", lambda x: x.amax(0), S2),
    case("max-dim-values", lambda x: x.max(1).values, S4),
    case("max-dim-keep", lambda x: torch.max(x, 2, keepdim=True)[0], S4),
    case("mean-sub", lambda x: x - x.mean((2, 3), keepdim=True), S4),
    case("mean-sub-channels", lambda x: x - x.mean(1, keepdim=True), S4),
    case("softmax-1", lambda x: F.softmax(x, 1), S4),
    case("softmax-last", lambda x: F.softmax(x, dim=-1), S4),
    case("softmax-module", nn.Softmax(dim=1), S3),
    case("softmax-3d-last", lambda x: torch.softmax(x, -1), S3),
    case("softmax-2d", lambda x: x.softmax(1), S2),
    case("softmax-2d-0", lambda x: x.softmax(0), S2),
    case("log_softmax-1", lambda x: F.log_softmax(x, 1), S4),
    case("log_softmax-last", lambda x: F.log_softmax(x, dim=-1), S4),
    case("log_softmax-module", nn.LogSoftmax(dim=-1), S3),
    case("log_softmax-3d-1", lambda x: x.log_softmax(1), S3),
    case("log_softmax-2d", lambda x: torch.log_softmax(x, -1), S2),
    case("normalize", F.normalize, S4),
    case("normalize-last", lambda x: F.normalize(x, dim=-1), S3),
    case("normalize-p1", lambda x: F.normalize(x, p=1, dim=2), S4),
    case("normalize-2d-0", lambda x: F.normalize(x, p=2.0, dim=0, eps=1e-3), S2),
    case("normalize-eps-wins", lambda x: F.normalize(x * 1e-4, dim=1, eps=0.5), S3),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_reduce(case, backend, channels_last):
    case.check(backend, channels_last)
