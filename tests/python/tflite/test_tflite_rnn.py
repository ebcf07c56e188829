"""Recurrent layers and embeddings through the direct TFLite writer, against PyTorch in LiteRT.

Every output (the sequence, then h_n and c_n) must be within 1e-5 x max(1, |expected|) of
PyTorch's on fresh inputs that were not used for tracing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("ai_edge_litert")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from models.gru_conv1d import GruTwoConv1d  # noqa: E402

import ferry  # noqa: E402
from ferry import _core  # noqa: E402

PT = ferry.ChannelOrder.PYTORCH
TOLERANCE = 1e-5
BATCH, STEPS, FEATURES, HIDDEN = 3, 6, 5, 7

# Everything the unrolled cells may be written with, at these versions only.
RNN_OPS = {
    ("FULLY_CONNECTED", 1),
    ("STRIDED_SLICE", 1),
    ("SPLIT", 1),
    ("ADD", 1),
    ("SUB", 1),
    ("MUL", 1),
    ("LOGISTIC", 1),
    ("TANH", 1),
    ("CONCATENATION", 1),
    ("RESHAPE", 1),
    ("TRANSPOSE", 1),
}


class Recurrent(nn.Module):
    """An nn.LSTM / nn.GRU returning the sequence and its final states as flat outputs."""

    def __init__(self, rnn: nn.LSTM | nn.GRU):
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if isinstance(self.rnn, nn.LSTM):
            y, (h, c) = self.rnn(x, tuple(state) if state else None)
            return y, h, c
        y, h = self.rnn(x, state[0] if state else None)
        return y, h


def _convert(model: nn.Module, example: list[torch.Tensor]) -> bytes:
    return ferry.pytorch_to_tflite(
        model, example, inputs_channel_order=PT, outputs_channel_order=PT
    )


def _ops(data: bytes) -> list[tuple[str, int]]:
    return [(op[0], op[1]) for op in _core.read_tflite(data)["ops"]]


def _invoke(interpreter: Interpreter, inputs: list[torch.Tensor]) -> list[np.ndarray]:
    """One invoke() on inputs given in the subgraph's input order (the model's argument order)."""
    details = interpreter.get_input_details()
    assert [tuple(d["shape"]) for d in details] == [tuple(x.shape) for x in inputs]
    for detail, x in zip(details, inputs):
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(x.numpy()))
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def _check(got: list[np.ndarray], expected: tuple[torch.Tensor, ...] | torch.Tensor) -> None:
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        e = e.detach().numpy()
        assert g.shape == e.shape
        assert np.abs(g - e).max() <= TOLERANCE * max(1.0, float(np.abs(e).max()))


def _interpreter(data: bytes) -> Interpreter:
    interpreter = Interpreter(model_content=data)  # default delegates: XNNPACK
    interpreter.allocate_tensors()
    return interpreter


def _inputs(rnn: nn.LSTM | nn.GRU, with_state: bool, scale: float = 1.0) -> list[torch.Tensor]:
    shape = (BATCH, STEPS, FEATURES) if rnn.batch_first else (STEPS, BATCH, FEATURES)
    states = 2 if isinstance(rnn, nn.LSTM) else 1
    dirs = 2 if rnn.bidirectional else 1
    inputs = [torch.randn(*shape) * scale]
    if with_state:
        inputs += [torch.randn(rnn.num_layers * dirs, BATCH, HIDDEN) for _ in range(states)]
    return inputs


CASES = list(itertools.product([1, 2], [False, True], [True, False], [False, True]))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize(("layers", "bidirectional", "batch_first", "with_state"), CASES)
def test_recurrent_layer(cls, layers, bidirectional, batch_first, with_state):
    torch.manual_seed(layers * 8 + bidirectional * 4 + batch_first * 2 + with_state)
    rnn = cls(FEATURES, HIDDEN, layers, batch_first=batch_first, bidirectional=bidirectional)
    model = Recurrent(rnn).eval()
    data = _convert(model, _inputs(rnn, with_state))
    fresh = _inputs(rnn, with_state, scale=2.0)
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(_interpreter(data), fresh), expected)

    ops = _ops(data)
    assert set(ops) <= RNN_OPS, set(ops) - RNN_OPS
    # Per layer and direction: one projection of every step's input, then one recurrent
    # product per step, except the first when it starts from zeros.
    dirs = 2 if bidirectional else 1
    recurrent = STEPS if with_state else STEPS - 1
    assert ops.count(("FULLY_CONNECTED", 1)) == layers * dirs * (1 + recurrent)
    assert ops.count(("SPLIT", 1)) >= layers * dirs * STEPS


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_recurrent_layer_without_bias_and_unbatched(cls):
    torch.manual_seed(3)
    model = Recurrent(cls(FEATURES, HIDDEN, bias=False)).eval()
    data = _convert(model, [torch.randn(STEPS, FEATURES)])
    fresh = [torch.randn(STEPS, FEATURES) * 2]
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(_interpreter(data), fresh), expected)


@pytest.mark.parametrize(("cls", "with_state"), [(nn.LSTM, False), (nn.GRU, True)])
def test_two_invokes_in_one_interpreter(cls, with_state):
    """Nothing carries over from one invoke() to the next: the model holds no state."""
    torch.manual_seed(11)
    rnn = cls(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    model = Recurrent(rnn).eval()
    interpreter = _interpreter(_convert(model, _inputs(rnn, with_state)))
    for scale in (1.5, 0.5):
        fresh = _inputs(rnn, with_state, scale=scale)
        with torch.no_grad():
            expected = model(*fresh)
        _check(_invoke(interpreter, fresh), expected)


def test_a_long_bidirectional_stack_is_one_xnnpack_partition():
    """24 per-step outputs per layer: joined by concatenations XNNPACK takes (5 inputs at most),
    nothing falls back to a builtin kernel between the layers."""
    torch.manual_seed(17)
    rnn = nn.GRU(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    model = Recurrent(rnn).eval()
    data = _convert(model, [torch.randn(1, 12, FEATURES)])
    assert max(len(op[2]) for op in _core.read_tflite(data)["ops"] if op[0] == "CONCATENATION") <= 5
    interpreter = _interpreter(data)
    # After delegation each partition is one DELEGATE node (a private but stable API).
    nodes = [op["op_name"] for op in interpreter._get_ops_details()]
    assert nodes.count("DELEGATE") == 1
    fresh = [torch.randn(1, 12, FEATURES)]
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(interpreter, fresh), expected)


class TinyText(nn.Module):
    """Token ids -> embedding -> LSTM -> a linear head on the last hidden state."""

    def __init__(self, vocab: int = 50):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embedding(tokens))
        return self.head(h[-1])


def test_embedding_and_lstm_text_model():
    torch.manual_seed(5)
    model = TinyText().eval()
    data = _convert(model, [torch.randint(0, 50, (2, 9))])
    fresh = [torch.randint(0, 50, (2, 9))]
    interpreter = _interpreter(data)
    assert interpreter.get_input_details()[0]["dtype"] == np.int64
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(interpreter, fresh), expected)
    ops = _ops(data)
    assert ops[0] == ("GATHER", 1)
    assert set(ops[1:]) <= RNN_OPS


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_embedding_is_a_gather(dtype):
    torch.manual_seed(7)
    embedding = nn.Embedding(20, 6).eval()
    data = _convert(embedding, [torch.randint(0, 20, (3, 4), dtype=dtype)])
    fresh = [torch.randint(0, 20, (3, 4), dtype=dtype)]
    with torch.no_grad():
        expected = embedding(fresh[0])
    _check(_invoke(_interpreter(data), fresh), expected)
    assert _ops(data) == [("GATHER", 1)]


def test_nobuco_gru_and_two_conv1d():
    torch.manual_seed(13)
    model = GruTwoConv1d().eval()
    data = _convert(model, [torch.randn(1, 12, 32)])
    fresh = [torch.randn(1, 12, 32)]
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(_interpreter(data), fresh), expected)
