"""Activations, functional and module forms, and their in-place spellings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, Fn, case, params
from torch import nn

torch.manual_seed(0)
S4, S3, S2 = (1, 3, 8, 8), (1, 3, 8), (2, 5)


def relu_then_reuse(x):
    y = x * 2
    torch.relu_(y)  # the name `y` now holds the in-place result
    return y + 1


CASES = [
    case("relu", F.relu, S4),
    case("relu-module", nn.ReLU(), S4),
    case("relu-3d", torch.relu, S3),
    case("relu-2d", torch.relu, S2),
    case("relu-method", lambda x: x.relu(), S4),
    case("relu6", nn.ReLU6(), S4),
    case("relu6-functional", F.relu6, S4),
    case("hardswish", F.hardswish, S4),
    case("hardswish-module", nn.Hardswish(), S3),
    case("hardsigmoid", F.hardsigmoid, S4),
    case("hardsigmoid-module", nn.Hardsigmoid(), S2),
    case("sigmoid", torch.sigmoid, S4),
    case("sigmoid-module", nn.Sigmoid(), S3),
    case("sigmoid-method", lambda x: x.sigmoid(), S2),
    case("tanh", torch.tanh, S4),
    case("tanh-module", nn.Tanh(), S3),
    case("silu", F.silu, S4),
    case("silu-module", nn.SiLU(), S2),
    case("gelu", F.gelu, S4),
    case("gelu-module", nn.GELU(), S3),
    case("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), S4),
    case("gelu-tanh-module", nn.GELU(approximate="tanh"), S2),
    case("leaky_relu", F.leaky_relu, S4),
    case("leaky_relu-slope", lambda x: F.leaky_relu(x, 0.2), S4),
    case("leaky_relu-module", nn.LeakyReLU(0.05), S3),
    case("elu", F.elu, S4),
    case("elu-alpha", lambda x: F.elu(x, alpha=0.5), S4),
    case("elu-module", nn.ELU(alpha=2.0), S2),
    case("hardtanh", F.hardtanh, S4),
    case("hardtanh-bounds", lambda x: F.hardtanh(x, -0.5, 0.25), S4),
    case("hardtanh-module", nn.Hardtanh(-2.0, 1.5), S3),
    # In place: on a computed tensor (an in-place write into a graph input would also change
    # the inputs the test feeds to the Keras model afterwards).
    case("relu-inplace", lambda x: F.relu(x * 2, inplace=True), S4),
    case("relu-inplace-module", nn.Sequential(Fn(lambda x: x * 2), nn.ReLU(inplace=True)), S4),
    case("relu_", lambda x: torch.relu_(x * 2), S4),
    case("relu_-method", lambda x: (x * 2).relu_(), S4),
    case("relu_-reused", relu_then_reuse, S4),
    case("relu6-inplace", lambda x: F.relu6(x * 4, inplace=True), S4),
    case("hardswish-inplace", lambda x: F.hardswish(x * 2, inplace=True), S4),
    case("hardsigmoid-inplace", lambda x: F.hardsigmoid(x * 2, inplace=True), S4),
    case("silu-inplace", lambda x: F.silu(x * 2, inplace=True), S4),
    case("leaky_relu-inplace", lambda x: F.leaky_relu(x * 2, 0.1, inplace=True), S4),
    case("leaky_relu_", lambda x: F.leaky_relu_(x * 2, 0.1), S4),
    case("elu-inplace", lambda x: F.elu(x * 2, inplace=True), S4),
    case("elu_", lambda x: F.elu_(x * 2), S4),
    case("hardtanh-inplace", lambda x: F.hardtanh(x * 2, inplace=True), S4),
    case("hardtanh_", lambda x: F.hardtanh_(x * 2, -0.5, 0.5), S4),
    case("sigmoid_", lambda x: (x * 2).sigmoid_(), S4),
    case("tanh_", lambda x: (x * 2).tanh_(), S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_activation(case, backend, channels_last):
    case.check(backend, channels_last)
