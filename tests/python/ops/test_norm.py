"""BatchNorm with non-trivial statistics, LayerNorm over trailing dims, Embedding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, ints, params
from torch import nn

torch.manual_seed(0)
S4 = (1, 3, 8, 8)


def randomized(module: nn.Module) -> nn.Module:
    """Random affine parameters and running statistics, so that none of them is trivial."""
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if name.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn_like(t))
    return module.eval()


class FunctionalLayerNorm(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.randn(shape))

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.weight, self.bias, eps=1e-3)


CASES = [
    case("bn1d-nc", randomized(nn.BatchNorm1d(3)), (4, 3)),
    case("bn1d-ncl", randomized(nn.BatchNorm1d(3)), (2, 3, 8)),
    case("bn1d-noaffine", randomized(nn.BatchNorm1d(3, affine=False)), (2, 3, 8)),
    case("bn2d", randomized(nn.BatchNorm2d(3)), (1, 3, 8, 8)),
    case("bn2d-batch2", randomized(nn.BatchNorm2d(3, eps=1e-3)), (2, 3, 4, 4)),
    case("bn2d-noaffine", randomized(nn.BatchNorm2d(3, affine=False)), (1, 3, 8, 8)),
    case("bn3d", randomized(nn.BatchNorm3d(2)), (1, 2, 4, 4, 4)),
    case("ln-last", randomized(nn.LayerNorm(8)), (2, 4, 8)),
    case("ln-last-4d", randomized(nn.LayerNorm(8)), (1, 3, 8, 8)),
    case("ln-last-2d", randomized(nn.LayerNorm(5)), (2, 5)),
    case("ln-last2", randomized(nn.LayerNorm((8, 8))), (1, 3, 8, 8)),
    case("ln-last2-3d", randomized(nn.LayerNorm((4, 8))), (2, 4, 8)),
    case("ln-last3", randomized(nn.LayerNorm((3, 8, 8))), (1, 3, 8, 8)),
    case("ln-noaffine", nn.LayerNorm(8, elementwise_affine=False), (1, 3, 8, 8)),
    case("ln-nobias", randomized(nn.LayerNorm(8, bias=False)), (2, 4, 8)),
    case("F.layer_norm", FunctionalLayerNorm((8,)), (2, 4, 8)),
    case("F.layer_norm-2", FunctionalLayerNorm((8, 8)), (1, 3, 8, 8)),
    # weight and bias computed at run time (here: model inputs)
    case("F.layer_norm-computed", lambda x, w, b: F.layer_norm(x, (8,), w, b), S4, (8,), (8,)),
    case("F.layer_norm-computed-hw", lambda x, w: F.layer_norm(x, (8, 8), w * 2), S4, (8, 8)),
    case("F.layer_norm-computed-chw", lambda x, w: F.layer_norm(x, (3, 8, 8), w), S4, (3, 8, 8)),
    case("embedding", randomized(nn.Embedding(10, 4)), ints(10, 2, 5)),
    case("embedding-1d", randomized(nn.Embedding(10, 4)), ints(10, 6)),
    case("embedding-3d", randomized(nn.Embedding(10, 4)), ints(10, 2, 3, 5)),
    case("embedding-padding", randomized(nn.Embedding(10, 4, padding_idx=0)), ints(10, 2, 5)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_norm(case, backend, channels_last):
    case.check(backend, channels_last)
