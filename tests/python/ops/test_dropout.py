"""Dropout: an identity in eval mode (every spelling), refused by name in training mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, Fn, case, params
from torch import nn

import ferry

torch.manual_seed(0)
S = (1, 3, 6, 6)

CASES = [
    case(
        "modules",
        nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout(0.3), nn.Dropout2d(0.2), nn.AlphaDropout(0.1)),
        S,
    ),
    case("inplace", nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout(0.5, inplace=True)), S),
    case("F.dropout", Fn(lambda x: F.dropout(x * 2, 0.5, training=False) + 1), S),
    case("F.dropout2d", Fn(lambda x: F.dropout2d(x, 0.5, training=False) * 3), S),
    case("F.alpha_dropout", Fn(lambda x: F.feature_alpha_dropout(F.alpha_dropout(x, 0.2), 0.1)), S),
    case("torch.dropout", Fn(lambda x: torch.dropout(x - 1, 0.5, False)), S),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_dropout(case, backend, channels_last):
    case.check(backend, channels_last)


def test_training_mode_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout(0.5)).train()
    with pytest.raises(ferry.ConversionError, match="training mode.*Dropout"):
        ferry.pytorch_to_keras(model, args=[torch.randn(S)], verbose=False)
