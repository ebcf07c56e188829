"""torch.cond converts to a real branch (IF with a subgraph per branch, tf.cond in Keras), or
with free sizes to both branches and a select; while_loop converts to a real loop (WHILE with
its condition and body as subgraphs, a while loop in Keras) that runs a data-dependent number
of times."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch import nn

# Bound before any conversion starts: PyTorch's own function, which Ferry cannot see into.
from torch._higher_order_ops import while_loop as bound_early
from trace_helpers import line_of

import ferry

pytest.importorskip("ai_edge_litert")
from free_size_runs import nhwc, run_resized  # noqa: E402

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


def _converted(model_class: type[nn.Module]) -> tuple[nn.Module, bytes, object]:
    """A channels-last CNN with random weights, its .tflite file and its Keras model."""
    torch.manual_seed(0)
    model = model_class().eval()
    x = torch.randn(1, 3, 16, 16)
    data = bytes(ferry.pytorch_to_tflite(model, [x], verbose=False))
    return model, data, ferry.pytorch_to_keras(model, [x], verbose=False)


def test_cond_takes_either_branch_on_both_back_ends_without_transposes():
    model, data, keras_model = _converted(Gate)
    main, then, otherwise = _subgraph_ops(data)
    assert main.count("IF") == 1 and "SELECT_V2" not in main
    assert then == ["CONV_2D"] and otherwise == ["CONV_2D", "LOGISTIC", "MUL"]
    # The branches take and give channels-last values: no transpose anywhere.
    assert all("TRANSPOSE" not in ops for ops in (main, then, otherwise))
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


def test_cond_with_a_free_batch_computes_both_branches_and_selects():
    torch.manual_seed(0)
    model = Gate().eval()
    x = torch.randn(2, 3, 16, 16)
    data = ferry.pytorch_to_tflite(model, [x], input_shapes={0: (None, 3, 16, 16)}, verbose=False)
    (main,) = _subgraph_ops(bytes(data))
    assert main.count("SELECT_V2") == 1 and "IF" not in main
    for batch, shift in ((1, 4.0), (3, -4.0)):
        fresh = torch.randn(batch, 3, 16, 16) + shift
        with torch.no_grad():
            expected = nhwc(model(fresh))
        assert np.abs(run_resized(data, nhwc(fresh)) - expected).max() <= 1e-5


class Passes(nn.Module):
    """One branch hands back a copy of its operand (PyTorch refuses the operand itself), which
    converts to the operand; the other reads a tensor computed outside the branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = x.mean(dim=0)
        return torch.cond(x.sum() > 0, lambda t: t.clone(), lambda t: t - offset, (x,))


def test_a_branch_may_return_its_operand_or_read_outside_tensors():
    data = ferry.pytorch_to_tflite(Passes(), [torch.randn(4, 5)], verbose=False)
    keras_model = ferry.pytorch_to_keras(Passes(), [torch.randn(4, 5)], verbose=False)
    for shift in (3.0, -3.0):
        fresh = torch.randn(4, 5) + shift
        expected = Passes()(fresh).numpy()
        for got in (
            ferry.tflite.run_tflite(data, [fresh.numpy()])[0],
            np.asarray(keras_model(fresh.numpy())),
        ):
            assert np.abs(got - expected).max() <= 1e-6


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


class Refine(nn.Module):
    """A channels-last CNN that refines its features until they are small: how often depends
    on the input. The body also reads `gain`, computed outside the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.relu(self.stem(x))
        gain = torch.sigmoid(y.mean(dim=(2, 3), keepdim=True))  # captured by the body

        def cond(i: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return (t.abs().mean() > 0.05) & (i < 20)

        def body(i: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return i + 1, torch.relu(self.block(t)) * gain

        steps, y = torch._higher_order_ops.while_loop(
            cond, body, (torch.zeros((), dtype=torch.int64), y)
        )
        return self.head(y), steps


def _subgraph_ops(data: bytes) -> list[list[str]]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(data, 0)
    return [
        [
            names[model.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()]
            for i in range(sg.OperatorsLength())
        ]
        for sg in (model.Subgraphs(k) for k in range(model.SubgraphsLength()))
    ]


def test_while_loop_runs_a_data_dependent_number_of_times_on_both_back_ends():
    model, data, keras_model = _converted(Refine)
    main, cond, body = _subgraph_ops(data)
    assert main.count("WHILE") == 1 and main.count("CONV_2D") == 2
    assert "LOGICAL_AND" in cond and body.count("CONV_2D") == 1
    # The loop's values stay channels-last across the boundary: no transpose anywhere.
    assert all("TRANSPOSE" not in ops for ops in (main, cond, body))
    counts = set()
    for scale in (0.1, 1.0, 4.0, 30.0):  # fresh inputs; bigger ones need more steps
        fresh = torch.randn(1, 3, 16, 16) * scale
        with torch.no_grad():
            features, steps = model(fresh)
        counts.add(int(steps))
        for got in (
            ferry.tflite.run_tflite(data, [nhwc(fresh)]),
            [np.asarray(t) for t in keras_model(nhwc(fresh))],
        ):
            assert np.abs(got[0] - nhwc(features)).max() <= 1e-5
            assert int(got[1]) == int(steps)
    assert len(counts) >= 3, counts


def test_a_loop_imported_inside_forward_converts():
    x = torch.randn(2, 5)
    data = ferry.pytorch_to_tflite(Loop(), [x], verbose=False)
    fresh = torch.randn(2, 5)
    assert np.abs(ferry.tflite.run_tflite(data, [fresh.numpy()])[0] - fresh.numpy() * 8).max() == 0


def test_a_converted_loop_survives_a_keras_file(tmp_path):
    import keras

    torch.manual_seed(1)
    model = Refine().eval()
    x = torch.randn(1, 3, 16, 16)
    keras_model = ferry.pytorch_to_keras(model, [x], verbose=False)
    keras_model.save(tmp_path / "loop.keras")
    loaded = keras.models.load_model(tmp_path / "loop.keras")
    fresh = nhwc(torch.randn(1, 3, 16, 16) * 3)
    for a, b in zip(keras_model(fresh), loaded(fresh)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


class ForeverLoop(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._higher_order_ops.while_loop(lambda t: True, lambda t: (t + 1,), (x,))[0]


class GrowingLoop(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._higher_order_ops.while_loop(
            lambda t: t.sum() < 10, lambda t: (torch.cat([t, t]),), (x,)
        )[0]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ForeverLoop(), "must return a one-element bool tensor"),
        (GrowingLoop(), "each with the shape and dtype of the one it replaces"),
    ],
)
def test_a_malformed_loop_is_refused_at_its_line(model, message):
    with pytest.raises(TypeError) as error:
        ferry.pytorch_to_tflite(model, [torch.ones(2)], verbose=False)
    assert message in str(error.value)
    assert f"{__file__}:{line_of(type(model).forward, 'while_loop')}" in str(error.value)


def test_a_loop_over_a_free_size_is_refused_clearly():
    with pytest.raises(Exception, match="free size"):
        ferry.pytorch_to_tflite(
            Loop(), [torch.randn(2, 5)], input_shapes={0: (None, 5)}, verbose=False
        )


def test_torch_cond_is_unchanged_outside_a_conversion():
    cond = torch.cond
    ferry.pytorch_to_tflite(ConstantGate(True), [torch.randn(2, 5)], verbose=False)
    assert torch.cond is cond


class BoundEarly(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bound_early(lambda t: t.sum() < 9, lambda t: (t + 1,), (x,))[0]  # bound early


def test_a_while_loop_bound_before_the_conversion_is_named_with_the_fix():
    with pytest.raises(NotImplementedError) as error:
        ferry.pytorch_to_tflite(BoundEarly(), [torch.zeros(2)], verbose=False)
    message = str(error.value)
    assert "Call it as torch._higher_order_ops.while_loop(...) inside forward" in message
    assert f"{__file__}:{line_of(BoundEarly.forward, 'bound early')}" in message
