"""Recurrent forms without a whole-layer rule, converted through the per-step calls PyTorch
runs for them: nn.RNN (tanh and relu), RNNCell, GRUCell, LSTMCell, and nn.LSTM with
projections (`proj_size`, which Keras' LSTM cannot express). Both back ends."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params
from torch import nn


class Cell(nn.Module):
    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, h: torch.Tensor):
        if isinstance(self.cell, nn.LSTMCell):
            return self.cell(x, (h, torch.tanh(h)))
        return self.cell(x, h)


class Steps(nn.Module):
    """A cell run over the time steps of [B, T, F] in a Python loop, as decoders do."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.cell.hidden_size)
        c = h
        outs = []
        for t in range(x.shape[1]):
            if isinstance(self.cell, nn.LSTMCell):
                h, c = self.cell(x[:, t], (h, c))
            else:
                h = self.cell(x[:, t], h)
            outs.append(h)
        return torch.stack(outs, 1)


class Seq(nn.Module):
    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor):
        y, state = self.rnn(x)
        return (y, *state) if isinstance(state, tuple) else (y, state)


torch.manual_seed(0)
CASES = [
    case("rnncell-tanh", Cell(nn.RNNCell(5, 4)), (2, 5), (2, 4)),
    case("rnncell-relu", Cell(nn.RNNCell(5, 4, nonlinearity="relu")), (2, 5), (2, 4)),
    case("grucell", Cell(nn.GRUCell(5, 4)), (2, 5), (2, 4)),
    case("lstmcell", Cell(nn.LSTMCell(5, 4)), (2, 5), (2, 4)),
    case("lstmcell-no-bias", Cell(nn.LSTMCell(5, 4, bias=False)), (3, 5), (3, 4)),
    case("grucell-loop", Steps(nn.GRUCell(5, 4)), (2, 6, 5)),
    case("lstmcell-loop", Steps(nn.LSTMCell(5, 4)), (2, 6, 5)),
    case("rnn-tanh", Seq(nn.RNN(5, 4, batch_first=True)), (2, 7, 5)),
    case("rnn-relu-2-layers", Seq(nn.RNN(5, 4, num_layers=2, nonlinearity="relu")), (7, 2, 5)),
    case("rnn-bidirectional", Seq(nn.RNN(5, 4, bidirectional=True, batch_first=True)), (2, 7, 5)),
    case("lstm-proj", Seq(nn.LSTM(5, 6, batch_first=True, proj_size=3)), (2, 7, 5)),
    case("lstm-proj-bi-2", Seq(nn.LSTM(5, 6, 2, proj_size=4, bidirectional=True)), (7, 2, 5)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_recurrent_forms(case, backend, channels_last):
    case.check(backend, channels_last)
