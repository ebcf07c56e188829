"""quantize="dynamic_int8" on recurrent layers: the builtin LSTM takes INT8 gate weights with
one scale each (its hybrid kernel, version 2), the unrolled forms' FULLY_CONNECTED kernels
INT8 per output row (version 12); biases stay float32, keep_float keeps a layer float, and the
output stays close to PyTorch's on fresh inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")

from quantized_file import read  # noqa: E402

import ferry  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402


class Recurrent(nn.Module):
    def __init__(self, kind: type[nn.Module]) -> None:
        super().__init__()
        self.rnn = kind(24, 48, batch_first=True, bidirectional=True)
        self.head = nn.Linear(96, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


def _sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    return 10 * float(np.log10((expected**2).sum() / ((expected - got) ** 2).sum()))


def _convert(model: nn.Module, **options) -> bytes:
    torch.manual_seed(1)
    pytorch = ferry.ChannelOrder.PYTORCH  # [batch, time, features] as PyTorch has it
    return bytes(
        ferry.pytorch_to_tflite(
            model,
            [torch.randn(2, 7, 24)],
            verbose=False,
            inputs_channel_order=pytorch,
            outputs_channel_order=pytorch,
            **options,
        )
    )


def _reached(model: nn.Module, data: bytes) -> float:
    g = torch.Generator().manual_seed(5)
    fresh = [torch.randn(2, 7, 24, generator=g) for _ in range(3)]
    with torch.no_grad():
        return min(_sqnr(model(x).numpy(), run_tflite(data, [x.numpy()])[0]) for x in fresh)


@pytest.mark.parametrize(
    ("kind", "recurrent"), [(nn.LSTM, "sequence"), (nn.LSTM, "unrolled"), (nn.GRU, None)]
)
def test_recurrent_weights_are_int8(kind, recurrent):
    torch.manual_seed(0)
    model = Recurrent(kind).eval()
    form = {} if recurrent is None else {"recurrent": recurrent}
    float_file = _convert(model, **form)
    data = _convert(model, quantize="dynamic_int8", **form)
    ops, tensors = read(data)
    recurrent_weights = 2 * (24 + 48) * 48 * (4 if kind is nn.LSTM else 3)
    int8 = sum(
        int(np.prod(t.shape)) for t in tensors if t.type == "INT8" and t.constant is not None
    )
    assert int8 >= recurrent_weights  # every gate matrix (and the head)
    assert len(data) < 0.55 * len(float_file)  # the rest: float32 biases, the flatbuffer
    if recurrent == "sequence":
        lstms = [op for op in ops if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
        assert len(lstms) == 2 and {op.version for op in lstms} == {2}
        for op in lstms:
            for t in op.inputs[1:9]:  # input-to-gate and recurrent-to-gate weights
                assert tensors[t].type == "INT8" and len(tensors[t].scales) == 1
                assert list(tensors[t].zero_points) == [0]
            for t in op.inputs[12:16]:  # gate biases
                assert tensors[t].type == "FLOAT32"
    else:
        dense = [op for op in ops if op.name == "FULLY_CONNECTED"]
        assert dense and {op.version for op in dense} == {12}
        for op in dense:
            kernel = tensors[op.inputs[1]]
            assert kernel.type == "INT8" and len(kernel.scales) == kernel.shape[0]
    # 38-40 dB measured on the tagger's bidirectional LSTM.
    assert _reached(model, data) >= 30


def test_keep_float_keeps_a_recurrent_layer_float():
    torch.manual_seed(0)
    model = Recurrent(nn.LSTM).eval()
    with pytest.warns(ferry.OptionNotUsedWarning) as caught:
        data = _convert(model, quantize="dynamic_int8", keep_float=["rnn", "nothing.here"])
    messages = [str(w.message) for w in caught]
    assert any("'nothing.here' keeps no kernel" in m for m in messages)
    assert not any("'rnn' keeps no kernel" in m for m in messages)
    ops, tensors = read(data)
    for op in ops:
        if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            assert op.version == 1
            assert all(tensors[t].type == "FLOAT32" for t in op.inputs[1:9])
    assert _reached(model, data) >= 35


def test_a_gru_over_free_time_steps_takes_int8_kernels_inside_its_loop():
    torch.manual_seed(0)
    model = Recurrent(nn.GRU).eval()
    float_file = _convert(model, dynamic_dims={0: {1: "time"}})
    data = _convert(model, quantize="dynamic_int8", dynamic_dims={0: {1: "time"}})
    assert len(data) < 0.55 * len(float_file)  # the loop body's recurrent kernels too
    for steps in (3, 11):
        x = torch.randn(2, steps, 24, generator=torch.Generator().manual_seed(steps))
        with torch.no_grad():
            expected = model(x).numpy()
        assert _sqnr(expected, run_tflite(data, [x.numpy()])[0]) >= 30  # 39-41 dB measured
