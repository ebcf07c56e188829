"""Recurrent layers and embeddings through the direct TFLite writer, against PyTorch in LiteRT.

Every output (the sequence, then h_n and c_n) must be within 1e-5 x max(1, |expected|) of
PyTorch's on fresh inputs that were not used for tracing. LSTM layers are checked in both of
the writer's forms (`recurrent="unrolled"` and `"sequence"`), each over several invoke()
calls of one interpreter: the sequence builtin keeps its state in variable tensors, which
must not carry anything from one call to the next.
"""

from __future__ import annotations

import itertools
import warnings

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

# Everything the sequence form may be written with, at these versions only.
SEQUENCE_OPS = {
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", 1),
    ("FILL", 1),
    ("MUL", 1),
    ("REVERSE_V2", 1),
    ("STRIDED_SLICE", 1),
    ("CONCATENATION", 1),
    ("RESHAPE", 1),
    ("TRANSPOSE", 1),
}

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


class LstmWithoutCell(nn.Module):
    """An nn.LSTM returning the sequence and h_n: what the sequence form writes as is."""

    def __init__(self, rnn: nn.LSTM):
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, (h, _) = self.rnn(x, tuple(state) if state else None)
        return y, h


def _convert(model: nn.Module, example: list[torch.Tensor], recurrent: str | None = None) -> bytes:
    return ferry.pytorch_to_tflite(
        model, example, inputs_channel_order=PT, outputs_channel_order=PT, recurrent=recurrent
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
    data = _convert(model, _inputs(rnn, with_state), "unrolled" if cls is nn.LSTM else None)
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
    data = _convert(model, [torch.randn(STEPS, FEATURES)], "unrolled" if cls is nn.LSTM else None)
    fresh = [torch.randn(STEPS, FEATURES) * 2]
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(_interpreter(data), fresh), expected)


@pytest.mark.parametrize(("layers", "bidirectional", "batch_first", "with_state"), CASES)
def test_lstm_sequence_form(layers, bidirectional, batch_first, with_state):
    """One UNIDIRECTIONAL_SEQUENCE_LSTM per layer and direction, right on every invoke()."""
    torch.manual_seed(100 + layers * 8 + bidirectional * 4 + batch_first * 2 + with_state)
    rnn = nn.LSTM(FEATURES, HIDDEN, layers, batch_first=batch_first, bidirectional=bidirectional)
    model = LstmWithoutCell(rnn).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ferry.OptionNotUsedWarning)
        data = _convert(model, _inputs(rnn, with_state), "sequence")
    interpreter = _interpreter(data)
    for scale in (2.0, 0.5, 1.0):
        fresh = _inputs(rnn, with_state, scale=scale)
        with torch.no_grad():
            expected = model(*fresh)
        _check(_invoke(interpreter, fresh), expected)

    ops = _ops(data)
    assert set(ops) <= SEQUENCE_OPS, set(ops) - SEQUENCE_OPS
    dirs = 2 if bidirectional else 1
    # Per layer and direction: the kernel, two state writes (FILL with zeros, or MUL by 1 to
    # copy h0/c0), the h_n slice; per backward direction two reversals in time; per
    # bidirectional layer one concatenation of the halves.
    assert ops.count(("UNIDIRECTIONAL_SEQUENCE_LSTM", 1)) == layers * dirs
    assert ops.count(("FILL", 1)) == (0 if with_state else 2 * layers * dirs)
    assert ops.count(("MUL", 1)) == (2 * layers * dirs if with_state else 0)
    assert ops.count(("REVERSE_V2", 1)) == 2 * layers * (dirs - 1)
    # The rest is moving data: h_n slices, the halves' and the states' concatenations, the
    # initial states' slices and the batch_first=False transposes; never a step's worth.
    assert len(ops) <= layers * dirs * 12 + 4


def test_lstm_sequence_form_survives_reallocation():
    """allocate_tensors() again (after a resize to the same shape) changes nothing either."""
    torch.manual_seed(19)
    rnn = nn.LSTM(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    model = LstmWithoutCell(rnn).eval()
    interpreter = _interpreter(_convert(model, _inputs(rnn, False), "sequence"))
    for scale in (1.5, 0.5):
        fresh = _inputs(rnn, False, scale=scale)
        with torch.no_grad():
            expected = model(*fresh)
        _check(_invoke(interpreter, fresh), expected)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], list(detail["shape"]))
        interpreter.allocate_tensors()


def test_lstm_sequence_form_without_bias_and_unbatched():
    torch.manual_seed(23)
    model = LstmWithoutCell(nn.LSTM(FEATURES, HIDDEN, bias=False, bidirectional=True)).eval()
    data = _convert(model, [torch.randn(STEPS, FEATURES)], "sequence")
    interpreter = _interpreter(data)
    for _ in range(2):
        fresh = [torch.randn(STEPS, FEATURES) * 2]
        with torch.no_grad():
            expected = model(*fresh)
        _check(_invoke(interpreter, fresh), expected)
    assert _ops(data).count(("UNIDIRECTIONAL_SEQUENCE_LSTM", 1)) == 2


@pytest.mark.parametrize("recurrent", ["sequence", None])
def test_lstm_reading_c_n_falls_back_to_unrolled_and_says_so(recurrent):
    torch.manual_seed(29)
    rnn = nn.LSTM(FEATURES, HIDDEN, 2, batch_first=True)
    model = Recurrent(rnn).eval()  # returns c_n
    with pytest.warns(ferry.OptionNotUsedWarning) as caught:
        data = _convert(model, _inputs(rnn, False), recurrent)
    texts = [str(w.message) for w in caught]
    for layer in (0, 1):
        assert any(f"LSTM 'rnn' layer {layer}" in t and "c_n" in t for t in texts), texts
    ops = _ops(data)
    assert set(ops) <= RNN_OPS
    interpreter = _interpreter(data)
    for scale in (2.0, 0.5):
        fresh = _inputs(rnn, False, scale=scale)
        with torch.no_grad():
            expected = model(*fresh)
        _check(_invoke(interpreter, fresh), expected)


class LstmThenGru(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
        self.gru = nn.GRU(HIDDEN, HIDDEN, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(self.lstm(x)[0])[0]


def test_sequence_form_with_a_gru_names_the_gru_once():
    torch.manual_seed(31)
    model = LstmThenGru().eval()
    with pytest.warns(ferry.OptionNotUsedWarning) as caught:
        data = _convert(model, [torch.randn(BATCH, STEPS, FEATURES)], "sequence")
    texts = [str(w.message) for w in caught]
    assert len(texts) == 1 and "GRU 'gru' layer 0" in texts[0], texts
    ops = _ops(data)
    assert ops.count(("UNIDIRECTIONAL_SEQUENCE_LSTM", 1)) == 1
    fresh = [torch.randn(BATCH, STEPS, FEATURES)]
    with torch.no_grad():
        expected = model(*fresh)
    _check(_invoke(_interpreter(data), fresh), expected)


@pytest.mark.parametrize("recurrent", ["sequence", "unrolled"])
def test_a_chosen_recurrent_form_without_lstm_says_it_had_no_effect(recurrent):
    model = nn.Sequential(nn.Linear(4, 3)).eval()
    with pytest.warns(ferry.OptionNotUsedWarning, match="no effect: the model has no LSTM"):
        _convert(model, [torch.randn(2, 4)], recurrent)


def test_the_default_is_the_sequence_form_and_warns_about_nothing_else():
    torch.manual_seed(37)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ferry.OptionNotUsedWarning)
        _convert(nn.Sequential(nn.Linear(4, 3)).eval(), [torch.randn(2, 4)], None)
        data = _convert(LstmThenGru().eval(), [torch.randn(BATCH, STEPS, FEATURES)], None)
    assert _ops(data).count(("UNIDIRECTIONAL_SEQUENCE_LSTM", 1)) == 1


def test_an_unknown_recurrent_form_is_refused():
    with pytest.raises(ValueError, match="recurrent must be one of unrolled, sequence"):
        _convert(nn.Sequential(nn.Linear(4, 3)).eval(), [torch.randn(2, 4)], "fused")


@pytest.mark.parametrize(
    ("cls", "with_state", "recurrent"),
    [(nn.LSTM, False, "unrolled"), (nn.LSTM, True, "unrolled"), (nn.GRU, True, None)],
)
def test_two_invokes_in_one_interpreter(cls, with_state, recurrent):
    """Nothing carries over from one invoke() to the next: the model holds no state."""
    torch.manual_seed(11)
    rnn = cls(FEATURES, HIDDEN, 2, batch_first=True, bidirectional=True)
    model = Recurrent(rnn).eval()
    interpreter = _interpreter(_convert(model, _inputs(rnn, with_state), recurrent))
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
    data = _convert(model, [torch.randint(0, 50, (2, 9))], "unrolled")
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
