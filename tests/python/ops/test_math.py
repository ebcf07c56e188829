"""Elementwise math beyond the builtins: trig and hyperbolic functions and their inverses,
exp/log variants, sign/trunc/classification, activations, atan2, remainder and fmod.

Inputs cover the edges each function's formula must get right: the ends of its domain, values
outside it (NaN), zeros, infinities and large arguments.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, ints, params
from torch import nn

torch.manual_seed(0)
S4, S3, S2 = (2, 3, 4, 4), (2, 3, 8), (3, 5)
INF, NAN = math.inf, math.nan


def edged(draw, edges, *shape):
    """`draw(shape)` with `edges` written over its first elements (a fresh draw each call)."""

    def make() -> torch.Tensor:
        x = draw(shape).reshape(-1)
        values = torch.tensor(edges, dtype=x.dtype)
        x[: len(values)] = values
        return x.reshape(shape)

    return make


def uniform(low, high):
    return lambda shape: torch.rand(shape) * (high - low) + low


def normal(scale=1.0):
    return lambda shape: torch.randn(shape) * scale


def nonzero_ints(high, *shape):
    """int64 in (-high, high) without 0: divisors."""

    def make() -> torch.Tensor:
        x = torch.randint(1, high, shape)
        return torch.where(torch.rand(shape) > 0.5, x, -x)

    return make


def away_from_zero(*shape):
    """Floats of either sign with 0.5 <= |x| < 1.5: divisors."""
    return lambda: (torch.rand(shape) + 0.5) * torch.where(torch.rand(shape) > 0.5, 1.0, -1.0)


UNIT = edged(uniform(-1, 1), [-1.0, 1.0, 0.0, 1.5, -2.0, 0.999, -0.9999], *S4)
CASES = [
    # trig and hyperbolic
    case("tan", torch.tan, edged(uniform(-1.4, 1.4), [0.0, 1.4, -1.4], *S4)),
    case("tan_", lambda x: (x * 1).tan_(), edged(uniform(-1.2, 1.2), [0.0], *S3)),
    case("sinh", torch.sinh, edged(normal(3), [0.0, 10.0, -10.0, 1e-4], *S4)),
    case("cosh", lambda x: x.cosh(), edged(normal(3), [0.0, 10.0, -10.0], *S4)),
    case("sinh-large", torch.sinh, edged(uniform(80, 89), [88.9, -88.9, 89.4], *S2)),
    case("cosh-large", torch.cosh, edged(uniform(-89, -80), [88.9, -88.9], *S2)),
    case("asin", torch.asin, UNIT),
    case("arcsin", torch.arcsin, UNIT),
    case("acos", lambda x: x.acos(), UNIT),
    case("arccos_", lambda x: (x * 1).arccos_(), UNIT),
    case("atan", torch.atan, edged(normal(10), [0.0, INF, -INF, 1e30, NAN], *S4)),
    case("arctan", lambda x: x.arctan(), edged(normal(10), [0.0], *S3)),
    case("asinh", torch.asinh, edged(normal(10), [0.0, 1e20, -1e20, 1e-8, -3e38], *S4)),
    case("acosh", torch.acosh, edged(uniform(1, 20), [1.0, 0.5, 1e20, 1.0001, -1.0], *S4)),
    case("atanh", torch.atanh, UNIT),
    case("arctanh", lambda x: x.arctanh(), edged(uniform(-0.99, 0.99), [0.0], *S3)),
    case("asin-int", lambda x: torch.asin(x), ints(2, *S2, low=-1)),
    # exp / log variants
    case("expm1", torch.expm1, edged(normal(2), [0.0, -100.0, 50.0, 1e-6], *S4)),
    case("special.expm1", torch.special.expm1, edged(normal(2), [0.0], *S3)),
    case("log1p", torch.log1p, edged(uniform(-0.5, 10), [-1.0, -2.0, 0.0, 1e-7], *S4)),
    case("log1p_", lambda x: (x * 1).log1p_(), edged(uniform(-0.5, 10), [0.0], *S3)),
    case("log2", torch.log2, edged(uniform(0, 100), [0.0, -1.0, 1.0, 8.0, 1024.0], *S4)),
    case("log10", lambda x: x.log10(), edged(uniform(0, 100), [0.0, -1.0, 1.0, 1000.0], *S4)),
    case("reciprocal", torch.reciprocal, edged(uniform(0.5, 2), [0.0, -0.0, -2.0, INF], *S4)),
    case("reciprocal-int", lambda x: x.reciprocal(), nonzero_ints(5, *S2)),
    case("square", torch.square, S4),
    case("square-int", lambda x: x.square(), ints(100, *S2, low=-100)),
    # sign, trunc, classification
    case("sign", torch.sign, edged(normal(), [0.0, -0.0, NAN, INF, -INF], *S4)),
    case("sign-int", lambda x: x.sign(), ints(5, *S2, low=-5)),
    case("sgn", torch.sgn, S3),
    case("trunc", torch.trunc, edged(normal(3), [2.5, -2.5, -0.5, 0.5, INF, NAN], *S4)),
    case("fix", torch.fix, edged(normal(3), [-1.5], *S3)),
    case("trunc-int", lambda x: x.trunc(), ints(5, *S2, low=-5)),
    case("isnan", torch.isnan, edged(normal(), [NAN, INF, -INF, 0.0], *S4)),
    case("isinf", lambda x: x.isinf(), edged(normal(), [NAN, INF, -INF, 0.0], *S4)),
    case("isfinite", torch.isfinite, edged(normal(), [NAN, INF, -INF, 0.0], *S4)),
    case("isposinf", torch.isposinf, edged(normal(), [NAN, INF, -INF], *S3)),
    case("isneginf", torch.isneginf, edged(normal(), [NAN, INF, -INF], *S3)),
    case("isnan-int", torch.isnan, ints(5, *S2)),
    case("isfinite-int", torch.isfinite, ints(5, *S2)),
    case("logical_xor", torch.logical_xor, S4, ints(2, *S4)),
    # activations
    case("softplus", F.softplus, edged(normal(5), [0.0, 20.0, 21.0, -100.0, 100.0], *S4)),
    case(
        "softplus-beta",
        lambda x: F.softplus(x, beta=2, threshold=5),
        edged(normal(5), [2.5, 2.6], *S4),
    ),
    case("softplus-module", nn.Softplus(beta=0.5, threshold=10), S3),
    case("mish", F.mish, edged(normal(5), [0.0, 100.0, -100.0], *S4)),
    case("mish-module", nn.Mish(), S3),
    case("hardshrink", F.hardshrink, edged(normal(), [0.5, -0.5, NAN], *S4)),
    case("hardshrink-module", nn.Hardshrink(lambd=1.0), S3),
    case("Tensor.hardshrink", lambda x: x.hardshrink(0.3), S3),
    case("softshrink", F.softshrink, edged(normal(), [0.5, -0.5, NAN, 0.0], *S4)),
    case("softshrink-module", nn.Softshrink(lambd=0.2), S3),
    case("tanhshrink", F.tanhshrink, S4),
    case("logsigmoid", F.logsigmoid, edged(normal(5), [0.0, 100.0, -100.0], *S4)),
    case("logsigmoid-module", nn.LogSigmoid(), S3),
    case("celu", F.celu, edged(normal(3), [0.0, -50.0], *S4)),
    case("celu-alpha", nn.CELU(alpha=0.5), S3),
    case("selu", F.selu, edged(normal(3), [0.0, -50.0], *S4)),
    case("selu-module", nn.SELU(), S3),
    case("rrelu", nn.RReLU(), S4),
    case("rrelu-bounds", lambda x: F.rrelu(x, 0.1, 0.3), S3),
    case(
        "rrelu-training",
        lambda x: F.rrelu(x, training=True),
        S3,
        refuses={"keras": "training mode", "tflite": "training mode"},
    ),
    case("softsign", F.softsign, S4),
    case("threshold", lambda x: F.threshold(x, 0.1, 20.0), edged(normal(), [0.1, NAN], *S4)),
    case("threshold-module", nn.Threshold(-0.5, -3.0), S3),
    case("glu", F.glu, (2, 3, 8)),
    case("glu-dim1", lambda x: F.glu(x, dim=1), (2, 6, 4, 4)),
    case("prelu", nn.PReLU(3), S4),
    case("prelu-one", nn.PReLU(), S3),
    case("softmin", lambda x: F.softmin(x, dim=1), S4),
    # atan2
    case("atan2", torch.atan2, S4, S4),
    case("atan2-broadcast", torch.atan2, S4, (4, 1)),
    case("arctan2", lambda y, x: y.arctan2(x), S3, S3),
    case(
        "atan2-edges",
        torch.atan2,
        edged(normal(), [0.0, 0.0, -0.0, 1.0, INF, -INF, 0.0], *S2),
        edged(normal(), [0.0, -1.0, -1.0, 0.0, INF, 1.0, INF], *S2),
    ),
    # remainder (the divisor's sign) and fmod (the dividend's)
    case(
        "remainder", torch.remainder, edged(normal(5), [0.0, -3.0, 3.0], *S4), away_from_zero(*S4)
    ),
    case("remainder-scalar", lambda x: torch.remainder(x, 1.5), S4),
    case("remainder-neg-scalar", lambda x: x.remainder(-0.7), edged(normal(5), [0.0, 1.4], *S4)),
    case("x%y", lambda x, y: x % y, S3, away_from_zero(3, 8)),
    case("x%=2", lambda x: (x * 1).remainder_(2), S3),
    case("5%x", lambda x: 5 % x, away_from_zero(*S3)),
    case("remainder-int", torch.remainder, ints(20, *S2, low=-20), nonzero_ints(6, *S2)),
    case("remainder-int-scalar", lambda x: x % 3, ints(20, *S2, low=-20)),
    case("fmod", torch.fmod, edged(normal(5), [0.0, -3.0, 3.0, -0.0], *S4), away_from_zero(*S4)),
    case("fmod-scalar", lambda x: x.fmod(-1.5), S4),
    case("fmod-int", torch.fmod, ints(20, *S2, low=-20), nonzero_ints(6, *S2)),
    case("fmod-int-scalar", lambda x: torch.fmod(x, -4), ints(20, *S2, low=-20)),
    # where / masked_fill with scalar and 0-d operands
    case("where-scalar-other", lambda x: torch.where(x > 0, x, 0.0), S4),
    case("where-scalar-input", lambda x: torch.where(x > 0, 1.5, x), S4),
    case("masked_fill-0d", lambda x: x.masked_fill(x > 0, torch.tensor(2.0)), S4),
    case("clamp-tensor-bounds", lambda x, lo, hi: x.clamp(lo, lo + hi.abs()), S4, S4, S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_math(case, backend, channels_last):
    case.check(backend, channels_last)
