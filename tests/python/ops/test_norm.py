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


class NativeBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.randn(3))
        self.register_buffer("var", torch.rand(3) + 0.5)
        self.weight = nn.Parameter(torch.randn(3))

    def forward(self, x):
        aten = torch.ops.aten
        return aten._native_batch_norm_legit_no_training(
            x, self.weight, None, self.mean, self.var, 0.1, 1e-5
        )[0]


S4p = (1, 4, 6, 6)

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
    # group norm (affine or not, 1 group, one channel per group), instance norm
    case("gn", randomized(nn.GroupNorm(2, 4)), (2, 4, 5, 6)),
    case("gn-noaffine", nn.GroupNorm(2, 6, affine=False), (2, 6, 5)),
    case("gn-1group", randomized(nn.GroupNorm(1, 4)), (2, 4, 3, 5)),
    case("gn-per-channel", randomized(nn.GroupNorm(4, 4)), (1, 4, 3, 5)),
    case("gn-3d", randomized(nn.GroupNorm(3, 6, eps=1e-3)), (1, 6, 3, 4, 5)),
    case("gn-2d-input", randomized(nn.GroupNorm(2, 6)), (3, 6)),
    case("F.group_norm", lambda x: F.group_norm(x, 2, eps=1e-4), (2, 4, 5, 6)),
    case("F.group_norm-computed", lambda x, w, b: F.group_norm(x, 2, w * 2, b), S4p, (4,), (4,)),
    case(
        "aten-native-group-norm",
        lambda x: torch.ops.aten.native_group_norm(x, None, None, 2, 4, 30, 2, 1e-5)[0],
        (2, 4, 5, 6),
    ),
    case("in1d", nn.InstanceNorm1d(3), (2, 3, 8)),
    case("in2d-affine", randomized(nn.InstanceNorm2d(3, affine=True)), (2, 3, 5, 6)),
    case("in3d", nn.InstanceNorm3d(2), (1, 2, 3, 4, 5)),
    case("in2d-unbatched", randomized(nn.InstanceNorm2d(3, affine=True)), (3, 5, 6)),
    case("in2d-running", randomized(nn.InstanceNorm2d(3, track_running_stats=True)), (2, 3, 5, 6)),
    case(
        "in2d-running-affine",
        randomized(nn.InstanceNorm2d(3, affine=True, track_running_stats=True)),
        (2, 3, 5, 6),
    ),
    case("F.instance_norm", lambda x: F.instance_norm(x, eps=1e-3), (2, 3, 5, 6)),
    # RMS norm and the hand-written pattern
    case("rms", randomized(nn.RMSNorm(8)), (2, 4, 8)),
    case("rms-eps-none-noweight", nn.RMSNorm(8, elementwise_affine=False), (2, 4, 8)),
    case("rms-2dims", randomized(nn.RMSNorm((6, 8), eps=1e-5)), (2, 6, 8)),
    case("rms-4d", randomized(nn.RMSNorm((4, 5))), (1, 3, 4, 5)),
    case("F.rms_norm", lambda x, w: F.rms_norm(x, (8,), w, 1e-6), (2, 4, 8), (8,)),
    case(
        "rms-hand-written",
        lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w,
        (2, 4, 8),
        (8,),
    ),
    # local response norm: odd and even windows, 3-D and 4-D
    case("lrn", nn.LocalResponseNorm(3), (1, 6, 5, 5)),
    case("lrn-even", nn.LocalResponseNorm(4, alpha=1e-2, beta=0.5, k=2.0), (2, 7, 4, 3)),
    case("lrn-3d", nn.LocalResponseNorm(5, alpha=1e-1), (2, 6, 9)),
    case("lrn-5d", nn.LocalResponseNorm(2), (1, 4, 3, 4, 5)),
    # aten forms with statistics outputs
    case(
        "aten-native-layer-norm",
        lambda x: torch.ops.aten.native_layer_norm(x, [8], None, None, 1e-5)[0],
        (2, 4, 8),
    ),
    case("aten-bn-no-training", NativeBatchNorm(), S4),
    case("embedding", randomized(nn.Embedding(10, 4)), ints(10, 2, 5)),
    case("embedding-1d", randomized(nn.Embedding(10, 4)), ints(10, 6)),
    case("embedding-3d", randomized(nn.Embedding(10, 4)), ints(10, 2, 3, 5)),
    case("embedding-padding", randomized(nn.Embedding(10, 4, padding_idx=0)), ints(10, 2, 5)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_norm(case, backend, channels_last):
    case.check(backend, channels_last)
