"""Calls computed from constants alone become constants (python/ferry/fold.py).

Each model runs on both back ends against PyTorch on fresh inputs (tests/python/ops/op_cases)
and the conversion tree marks the folded calls.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params

import ferry
from ferry.report.tree import NodeStatus, statuses


class StdConv2d(torch.nn.Conv2d):
    """Weight standardization as ScaledStdConv-style layers write it: a training-mode
    batch_norm over the weight itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, self.out_channels, -1)
        w = F.batch_norm(w, None, None, training=True, momentum=0.0, eps=1e-5)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, self.stride, self.padding)


def weight_normed() -> torch.nn.Module:
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(4, 6, 3, padding=1))
    with torch.no_grad():
        conv.parametrizations.weight.original0.uniform_(0.5, 2.0)  # g away from ||v||
    return conv


class SinusoidalPositions(torch.nn.Module):
    """A position table computed in forward from a buffer, added to the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.arange(0, dim, 2) * (-math.log(1e4) / dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[1], dtype=torch.float32)[:, None] * self.freqs[None]
        table = torch.stack([pos.sin(), pos.cos()], -1).flatten(1)
        return x + table


class CausalScores(torch.nn.Module):
    """A causal mask built from constants, applied to scores computed from the input."""

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        t = q.shape[1]
        mask = torch.triu(torch.ones(t, t), diagonal=1).bool()
        scores = (q @ k.transpose(1, 2)).masked_fill(mask, float("-inf"))
        return scores.softmax(-1)


class FromShapes(torch.nn.Module):
    """Tensors made from another's shape and type: the same at every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.new_ones(x.shape[-1]) * 2 + torch.full_like(x, 0.5) + torch.zeros_like(x)


CASES = [
    case("weight-standardization", StdConv2d(3, 8, 3, padding=1), (1, 3, 10, 10), tol=1e-4),
    case("weight-norm", weight_normed(), (2, 4, 7, 7), tol=1e-4),
    case("position-table", SinusoidalPositions(8), (2, 5, 8)),
    case("causal-mask", CausalScores(), (2, 4, 6), (2, 4, 6)),
    case("from-shapes", FromShapes(), (2, 3, 4)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_folded_models_match_pytorch(case, backend, channels_last):
    case.check(backend, channels_last)


def _tree_statuses(model: torch.nn.Module, *inputs: torch.Tensor) -> dict[str, NodeStatus]:
    """Each traced call's status in the conversion tree, by op name (last one wins)."""
    from ferry.core_bridge import run_core
    from ferry.trace import trace_module

    trace = trace_module(model.eval(), list(inputs))
    result = run_core(trace, disabled=[], input_orders=["pytorch"], output_orders=["pytorch"])
    info = statuses(
        trace,
        result.converted,
        result.unused,
        result.unsupported,
        result.errors,
        None,
        {},
        result.folded,
    )
    return {trace.nodes[nid].op: entry.status for nid, entry in info.items()}


def test_the_tree_marks_folded_calls():
    marks = _tree_statuses(StdConv2d(3, 4, 3), torch.randn(1, 3, 8, 8))
    assert marks["torch.nn.functional.batch_norm"] == NodeStatus.FOLDED
    assert marks["torch.nn.functional.conv2d"] == NodeStatus.CONVERTED


def test_the_folded_batch_norm_leaves_no_normalisation_in_the_file():
    data = ferry.pytorch_to_tflite(StdConv2d(3, 4, 3).eval(), [torch.randn(1, 3, 8, 8)])
    from ferry import _core

    ops = {op[0] for op in _core.read_tflite(data)["ops"]}
    assert ops == {"CONV_2D"}, ops


def test_a_call_on_the_input_is_not_folded():
    marks = _tree_statuses(CausalScores(), torch.randn(1, 3, 4), torch.randn(1, 3, 4))
    assert marks["torch.Tensor.masked_fill"] == NodeStatus.CONVERTED
    assert marks["torch.triu"] == NodeStatus.FOLDED


class Noisy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.rand(x.shape)


@pytest.mark.parametrize("convert", [ferry.pytorch_to_keras, ferry.pytorch_to_tflite])
def test_random_draws_are_refused_not_frozen(convert):
    with pytest.raises(ferry.ConversionError, match="draws new random numbers at every call"):
        convert(Noisy().eval(), [torch.randn(2, 3)], verbose=False)


def test_a_user_converter_is_never_folded_away():
    class Table(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.randn(3))

        def forward(self) -> torch.Tensor:
            return self.w * 2

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = Table()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.table()

    calls = []

    @ferry.converter(Table)
    def convert_table(self):
        import keras

        calls.append(1)
        return lambda: keras.ops.convert_to_tensor(self.w.numpy() * 3)  # visibly not PyTorch's

    model = Model().eval()
    try:
        with pytest.raises(ferry.ValidationError):  # the converter ran, and its result is used
            ferry.pytorch_to_keras(model, [torch.randn(2, 3)], verbose=False)
    finally:
        ferry.unregister_converter(Table)
    assert calls
