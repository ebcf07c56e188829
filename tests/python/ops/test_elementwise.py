"""Binary and unary elementwise ops: broadcasting, constants, Python scalars, clamps."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, ints, params, pos
from torch import nn

torch.manual_seed(0)
S4, S3, S5, S2 = (1, 3, 8, 8), (2, 3, 8), (1, 2, 4, 4, 4), (2, 5)
C11, W = (3, 1, 1), (8,)


class WithParam(nn.Module):
    """`fn(x, p)` with p a parameter of the given shape (a constant in the converted graph)."""

    def __init__(self, fn, shape, positive=False):
        super().__init__()
        data = torch.rand(shape) + 0.5 if positive else torch.randn(shape)
        self.p = nn.Parameter(data)
        self.fn = fn

    def forward(self, x):
        return self.fn(x, self.p)


add, sub = (lambda a, b: a + b), (lambda a, b: a - b)
mul, div = (lambda a, b: a * b), (lambda a, b: a / b)

CASES = [
    # tensor (op) tensor, same rank and broadcast from lower rank / unit dims
    case("add", add, S4, S4),
    case("add-c11", add, S4, C11),
    case("add-w", add, S4, W),
    case("add-w-left", add, W, S4),
    case("add-1c11", add, S4, (1, 3, 1, 1)),
    case("add-11hw", add, (1, 1, 8, 8), S4),
    case("add-3d", add, S3, (3, 1)),
    case("add-5d", add, S5, (2, 1, 1, 1)),
    case("add-2d", add, S2, (5,)),
    case("sub", sub, S4, S4),
    case("sub-c11", sub, S4, C11),
    case("sub-w", sub, W, S4),
    case("mul", mul, S4, S4),
    case("mul-c11", mul, C11, S4),
    case("mul-w", mul, S4, W),
    case("mul-5d", mul, S5, S5),
    case("div", div, S4, pos(*S4)),
    case("div-c11", div, S4, pos(*C11)),
    case("div-w", div, S4, pos(*W)),
    case("div-3d", div, pos(3, 1), S3),
    case("torch.add", torch.add, S4, C11),
    case("torch.sub", torch.sub, S4, W),
    case("torch.mul", torch.mul, S4, S4),
    case("torch.div", torch.div, S4, pos(*C11)),
    # tensor (op) parameter
    case("add-param-c11", WithParam(add, C11), S4),
    case("add-param-w", WithParam(add, W), S4),
    case("add-param-full", WithParam(add, S4), S4),
    case("add-param-0d", WithParam(add, ()), S4),
    case("sub-param-left", WithParam(lambda x, p: p - x, C11), S4),
    case("mul-param-c11", WithParam(mul, C11), S4),
    case("mul-param-1c11", WithParam(mul, (1, 3, 1, 1)), S4),
    case("mul-param-5d", WithParam(mul, (2, 1, 1, 1)), S5),
    case("div-param-w", WithParam(div, W, positive=True), S4),
    case("div-param-left", WithParam(lambda x, p: p / x, C11), pos(*S4)),
    case("mul-param-3d", WithParam(mul, (3, 1)), S3),
    # Python scalars on either side
    case("x+1", lambda x: x + 1, S4),
    case("1+x", lambda x: 1 + x, S4),
    case("x-1.5", lambda x: x - 1.5, S4),
    case("1-x", lambda x: 1 - x, S4),
    case("x*2", lambda x: x * 2, S4),
    case("3*x", lambda x: 3 * x, S3),
    case("x/2", lambda x: x / 2, S4),
    case("2/x", lambda x: 2 / x, pos(*S4)),
    case("x**2", lambda x: x**2, S4),
    case("x**3", lambda x: x**3, S4),
    case("x**0.5", lambda x: x**0.5, pos(*S4)),
    case("x**-1", lambda x: x**-1, pos(*S4)),
    case("2**x", lambda x: 2**x, S4),
    case("pow-tensor", torch.pow, pos(*S4), C11),
    case("x+=1", lambda x: (x * 1).add_(1), S4),
    # alpha
    case("add-alpha", lambda x, y: torch.add(x, y, alpha=2), S4, S4),
    case("add-alpha-c11", lambda x, y: x.add(y, alpha=-0.5), S4, C11),
    case("sub-alpha", lambda x, y: torch.sub(x, y, alpha=3), S4, W),
    case("add-scalar-alpha", lambda x: torch.add(x, 2, alpha=3), S4),
    # floor division (divisors away from zero)
    case("x//y", lambda x, y: x // y, S4, pos(*S4)),
    case("x//c11", lambda x, y: x // y, S4, pos(*C11)),
    case("x//2", lambda x: x // 2, S4),
    case("x//0.3", lambda x: x // 0.3, S4),
    case("floor_divide", torch.floor_divide, S4, pos(*W)),
    case("div-floor", lambda x, y: torch.div(x, y, rounding_mode="floor"), S4, pos(*S4)),
    case("div-trunc", lambda x, y: torch.div(x, y, rounding_mode="trunc"), S4, pos(*C11)),
    # clamp / clip
    case("clamp", lambda x: torch.clamp(x, -0.5, 0.5), S4),
    case("clamp-min", lambda x: torch.clamp(x, min=0.1), S4),
    case("clamp-max", lambda x: x.clamp(max=0.2), S4),
    case("clip", lambda x: torch.clip(x, -1, 1), S3),
    case("clamp_min", lambda x: x.clamp_min(0.0), S4),
    case("clamp_max", lambda x: torch.clamp_max(x, 0.3), S4),
    case("clamp_", lambda x: (x * 2).clamp_(-1, 1), S4),
    case("clamp-tensors", lambda x, lo, hi: torch.clamp(x, lo, hi - 2), S4, S4, pos(*S4)),
    case("clamp-tensors-c11", lambda x, lo: torch.clamp(x, min=lo), S4, C11),
    case("clamp-tensor-max-w", lambda x, hi: x.clamp(max=hi), S4, W),
    case("clamp-param", WithParam(lambda x, p: torch.clamp(x, p, p + 1), C11), S4),
    # maximum / minimum
    case("maximum", torch.maximum, S4, S4),
    case("maximum-c11", torch.maximum, S4, C11),
    case("minimum", torch.minimum, S4, S4),
    case("minimum-w", torch.minimum, W, S4),
    case("max-binary", torch.max, S4, S4),
    case("min-binary", lambda x, y: x.min(y), S3, (3, 1)),
    case("maximum-param", WithParam(torch.maximum, C11), S4),
    # unary
    case("exp", torch.exp, S4),
    case("log", torch.log, pos(*S4)),
    case("sqrt", torch.sqrt, pos(*S4)),
    case("rsqrt", torch.rsqrt, pos(*S4)),
    case("abs", torch.abs, S4),
    case("neg", torch.neg, S4),
    case("-x", lambda x: -x, S4),
    case("exp-method", lambda x: x.exp(), S3),
    case("log-method", lambda x: x.log(), pos(*S2)),
    case("sqrt-5d", torch.sqrt, pos(*S5)),
    case("abs-method", lambda x: x.abs(), S2),
    case("chain", lambda x, y: torch.sqrt(torch.abs(x - y) + 1) * torch.exp(-x), S4, C11),
    # comparisons, logical ops, where (bool results compared exactly)
    case("gt", lambda x, y: x > y, S4, C11),
    case("le-scalar", lambda x: x <= 0.5, S3),
    case("eq-int", lambda x, y: x == y, ints(3, *S3), ints(3, 8)),
    case("ne-method", lambda x, y: x.ne(y), ints(3, *S2), ints(3, *S2)),
    case("torch.greater_equal", torch.greater_equal, S4, S4),
    case("lt-int-float", lambda x: x < 1.5, ints(3, *S2)),
    case("and", lambda x, y: (x > 0) & (y < 0), S4, C11),
    case("or-invert", lambda x, y: ~((x > 0) | (y > 0)), S3, S3),
    case("logical_xor", torch.logical_xor, S3, S3),
    case("logical_not", lambda x: torch.logical_not(x > 0), S4),
    case("where", lambda x, y: torch.where(x > 0, x, y), S4, C11),
    case("where-scalar", lambda x: torch.where(x > 0, x, 0.0), S3),
    # Tensor.where(condition, other); a scalar other is a 0-d tensor (aten.scalar_tensor)
    case("where-method", lambda x, y: x.where(x > 0, y), S4, S4),
    case("where-method-scalar", lambda x: x.where(x > 0, 2.0), S3),
    case("scalar-tensor-factory", lambda x: x * torch.tensor(2.5), S3),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_elementwise(case, backend, channels_last):
    case.check(backend, channels_last)
