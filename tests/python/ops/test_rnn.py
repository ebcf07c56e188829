"""nn.GRU and nn.LSTM as native Keras GRU / LSTM / Bidirectional layers."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import torch
from torch import nn

import ferry
from ferry import core_bridge

torch.manual_seed(0)
FEATURES, HIDDEN, BATCH, STEPS = 6, 5, 2, 7


class Net(nn.Module):
    """Runs `rnn` on x (and the initial states, when given); returns every output flat."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, *state):
        if not state:
            y, s = self.rnn(x)
        else:
            y, s = self.rnn(x, state if isinstance(self.rnn, nn.LSTM) else state[0])
        return (y, *s) if isinstance(s, tuple) else (y, s)


def make_inputs(rnn: nn.RNNBase, with_state: bool, batched: bool = True):
    steps_batch = (BATCH, STEPS) if rnn.batch_first else (STEPS, BATCH)
    x_shape = (*steps_batch, FEATURES) if batched else (STEPS, FEATURES)
    directions = 2 if rnn.bidirectional else 1
    state_shape = (rnn.num_layers * directions, BATCH, HIDDEN)
    if not batched:
        state_shape = (state_shape[0], HIDDEN)
    states = 2 if isinstance(rnn, nn.LSTM) else 1

    def make():
        x = [torch.randn(x_shape)]
        return x + [torch.randn(state_shape) for _ in range(states)] if with_state else x

    return make


GRID = list(itertools.product(["gru", "lstm"], [True, False], [1, 2], [False, True], [False, True]))


@pytest.mark.parametrize(
    "kind, batch_first, layers, bidirectional, with_state",
    GRID,
    ids=[
        f"{k}-{'bf' if b else 'tf'}-l{n}-{'bi' if d else 'uni'}-{'h0' if s else 'none'}"
        for k, b, n, d, s in GRID
    ],
)
def test_matches_pytorch(compare, kind, batch_first, layers, bidirectional, with_state):
    cls = nn.GRU if kind == "gru" else nn.LSTM
    rnn = cls(FEATURES, HIDDEN, layers, batch_first=batch_first, bidirectional=bidirectional)
    # Measured differences stay below 4e-7 (also two stacked bidirectional layers).
    keras_model = compare(Net(rnn), make_inputs(rnn, with_state), tol=1e-5)
    layer = keras_model.get_layer("rnn")
    wanted = keras.layers.Bidirectional if bidirectional else type(layer)
    assert isinstance(layer, wanted)
    inner = layer.forward_layer if bidirectional else layer
    assert isinstance(inner, keras.layers.GRU if kind == "gru" else keras.layers.LSTM)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_without_bias(compare, kind):
    rnn = (nn.GRU if kind == "gru" else nn.LSTM)(FEATURES, HIDDEN, 2, bias=False)
    compare(Net(rnn), make_inputs(rnn, False))


@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched(compare, with_state):
    rnn = nn.LSTM(FEATURES, HIDDEN, bidirectional=True)
    compare(Net(rnn), make_inputs(rnn, with_state, batched=False))


def test_gru_weights_in_keras_gate_order():
    rnn = nn.GRU(FEATURES, HIDDEN, batch_first=True).eval()
    keras_model = ferry.pytorch_to_keras(
        Net(rnn).eval(), args=[torch.randn(1, STEPS, FEATURES)], verbose=False
    )
    kernel, recurrent, bias = keras_model.get_layer("rnn").get_weights()
    r, z, n = np.split(rnn.weight_ih_l0.detach().numpy(), 3)  # PyTorch: r, z, n
    np.testing.assert_array_equal(kernel, np.concatenate([z, r, n]).T)  # Keras: z, r, h
    assert recurrent.shape == (HIDDEN, 3 * HIDDEN)
    b_ih, b_hh = (np.split(b.detach().numpy(), 3) for b in (rnn.bias_ih_l0, rnn.bias_hh_l0))
    np.testing.assert_array_equal(bias[0], np.concatenate([b_ih[1], b_ih[0], b_ih[2]]))
    np.testing.assert_array_equal(bias[1], np.concatenate([b_hh[1], b_hh[0], b_hh[2]]))


def test_parameters_missing_from_the_trace_are_appended(compare, monkeypatch):
    # Parameters the trace holds are matched by storage; make every match fail, so each one
    # goes the other way: a new constant after the tracer's values.
    monkeypatch.setattr(core_bridge, "_tensor_key", lambda t: (id(t),))
    rnn = nn.GRU(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    compare(Net(rnn), make_inputs(rnn, True))


def test_keras_file_round_trip(tmp_path):
    rnn = nn.GRU(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    module = Net(rnn).eval()
    make = make_inputs(rnn, True)
    keras_model = ferry.pytorch_to_keras(
        module,
        args=make(),
        inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        outputs_channel_order=ferry.ChannelOrder.PYTORCH,
        verbose=False,
    )
    path = tmp_path / "gru.keras"
    keras_model.save(path)
    loaded = keras.models.load_model(path)
    x, h0 = make()
    with torch.no_grad():
        expected = module(x, h0)
    got = loaded([x.numpy(), h0.numpy()])
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), e.numpy(), atol=1e-5, rtol=0)
