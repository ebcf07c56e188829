"""nn.Linear / F.linear on 2-D and higher-rank input; matmul, `@`, mm, bmm with broadcasting;
addmm (GPT-2's Conv1D) and baddbmm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params
from torch import nn

torch.manual_seed(0)


class Weighted(nn.Module):
    """`fn(x, w)` with w a parameter of the given shape."""

    def __init__(self, fn, shape):
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape))
        self.fn = fn

    def forward(self, x):
        return self.fn(x, self.w)


class Conv1D(nn.Module):
    """GPT-2's projection: `torch.addmm(bias, x.view(-1, nx), weight)`, weight stored [in, out]."""

    def __init__(self, nx: int, nf: int, beta: float = 1.0, alpha: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.randn(nf))
        self.beta, self.alpha = beta, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addmm(
            self.bias, x.view(-1, x.size(-1)), self.weight, beta=self.beta, alpha=self.alpha
        )
        return out.view(*x.shape[:-1], -1)


class NanBiasAddmm(nn.Module):
    """beta=0 ignores the input, NaNs included."""

    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.full((4,), float("nan")))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.bias.addmm(a, b, beta=0)


matmul = torch.matmul

CASES = [
    case("linear-2d", nn.Linear(5, 4), (2, 5)),
    case("linear-3d", nn.Linear(5, 4), (2, 3, 5)),
    case("linear-4d", nn.Linear(8, 6), (1, 3, 8, 8)),
    case("linear-nobias", nn.Linear(5, 4, bias=False), (2, 5)),
    case("linear-nobias-3d", nn.Linear(5, 4, bias=False), (2, 3, 5)),
    case("linear-1d", nn.Linear(5, 4), (5,)),
    case("F.linear", Weighted(F.linear, (4, 5)), (2, 3, 5)),
    case("linear-chain", nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)), (2, 3, 5)),
    case("matmul-2d", matmul, (3, 4), (4, 5)),
    case("matmul-3d", matmul, (2, 3, 4), (2, 4, 5)),
    case("matmul-3d-2d", matmul, (2, 3, 4), (4, 5)),
    case("matmul-2d-3d", matmul, (3, 4), (2, 4, 5)),
    case("matmul-bcast-4d", matmul, (2, 1, 3, 4), (3, 4, 5)),
    case("matmul-bcast-batch", matmul, (1, 3, 4), (2, 4, 5)),
    case("matmul-vec-right", matmul, (2, 3, 4), (4,)),
    case("matmul-vec-left", matmul, (4,), (2, 4, 5)),
    case("matmul-vec-vec", matmul, (4,), (4,)),
    case("@", lambda a, b: a @ b, (2, 3, 4), (2, 4, 5)),
    case("@-2d", lambda a, b: a @ b, (3, 4), (4, 2)),
    case("@-param", Weighted(lambda x, w: x @ w, (8, 5)), (1, 3, 8, 8)),
    case("@-param-left", Weighted(lambda x, w: w @ x, (5, 8)), (1, 3, 8, 8)),
    case("@-transposed", lambda a, b: a @ b.transpose(-1, -2), (2, 3, 4), (2, 5, 4)),
    case("matmul-method", lambda a, b: a.matmul(b), (2, 3, 4), (4, 5)),
    case("mm", torch.mm, (3, 4), (4, 5)),
    case("bmm", torch.bmm, (2, 3, 4), (2, 4, 5)),
    case("bmm-method", lambda a, b: a.bmm(b), (3, 2, 4), (3, 4, 1)),
    case("addmm-conv1d", Conv1D(8, 6), (2, 3, 8)),
    case("addmm-conv1d-scaled", Conv1D(8, 6, beta=0.5, alpha=-2.0), (5, 8)),
    case("addmm", torch.addmm, (3, 5), (3, 4), (4, 5)),
    case("addmm-row", lambda i, a, b: i.addmm(a, b, beta=2, alpha=0.5), (1, 5), (3, 4), (4, 5)),
    case("addmm-beta0-nan", NanBiasAddmm(), (3, 2), (2, 4)),
    case("baddbmm", torch.baddbmm, (2, 3, 5), (2, 3, 4), (2, 4, 5)),
    case(
        "baddbmm-scaled",
        lambda i, a, b: i.baddbmm(a, b, beta=-1.5, alpha=0.25),
        (3, 5),
        (2, 3, 4),
        (2, 4, 5),
    ),
    case(
        "attention", lambda q, k: torch.softmax(q @ k.transpose(1, 2), -1) @ k, (2, 3, 4), (2, 5, 4)
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_linear(case, backend, channels_last):
    case.check(backend, channels_last)
