"""torch.cond converts with both branches computed and the result selected; while_loop is
refused clearly."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch import nn
from trace_helpers import line_of

import ferry

pytest.importorskip("ai_edge_litert")
from free_size_runs import nhwc  # noqa: E402

import ferry.tflite  # noqa: E402


class Gate(nn.Module):
    """A channels-last CNN whose second half depends on the data: a branch per sign of the
    first conv's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.sharp = nn.Conv2d(8, 8, 3, padding=1)
        self.soft = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return torch.cond(
            y.mean() > 0,
            lambda t: torch.relu(self.sharp(t)),
            lambda t: torch.sigmoid(self.soft(t)) * 2,
            (y,),
        )


def test_cond_takes_either_branch_on_both_back_ends_without_transposes():
    torch.manual_seed(0)
    model = Gate().eval()
    x = torch.randn(1, 3, 16, 16)
    data = ferry.pytorch_to_tflite(model, [x], verbose=False)
    keras_model = ferry.pytorch_to_keras(model, [x], verbose=False)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert "TRANSPOSE" not in ops and ops["SELECT_V2"] == 1
    taken = []
    for shift in (4.0, -4.0):  # the stem's mean follows the input's sign enough to flip
        fresh = torch.randn(1, 3, 16, 16) + shift
        with torch.no_grad():
            taken.append(bool(model.stem(fresh).mean() > 0))
            expected = nhwc(model(fresh))
        for got in (
            ferry.tflite.run_tflite(data, [nhwc(fresh)])[0],
            np.asarray(keras_model(nhwc(fresh))),
        ):
            assert np.abs(got - expected).max() <= 1e-5
    assert sorted(taken) == [False, True]  # each branch was taken once


class ConstantGate(nn.Module):
    def __init__(self, flag: bool) -> None:
        super().__init__()
        self.flag = flag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(self.flag, lambda t: t + 1, lambda t: t * 3, (x,))


def test_a_python_bool_predicate_traces_that_branch_alone():
    x = torch.randn(2, 5)
    data = ferry.pytorch_to_tflite(ConstantGate(False), [x], verbose=False)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert ops == {"MUL": 1}


class Loop(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch._higher_order_ops import while_loop

        return while_loop(lambda i, t: i < 3, lambda i, t: (i + 1, t * 2), (torch.tensor(0), x))[1]


def test_while_loop_is_refused_at_its_line():
    with pytest.raises(NotImplementedError) as error:
        ferry.pytorch_to_tflite(Loop(), [torch.randn(2, 5)], verbose=False)
    assert "while_loop" in str(error.value)
    assert f"{__file__}:{line_of(Loop.forward, 'return while_loop')}" in str(error.value)


def test_torch_cond_is_unchanged_outside_a_conversion():
    cond = torch.cond
    ferry.pytorch_to_tflite(ConstantGate(True), [torch.randn(2, 5)], verbose=False)
    assert torch.cond is cond
