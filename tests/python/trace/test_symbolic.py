"""Free sizes: tracing on symbolic sizes gives every value the sizes that follow the free input
dims, checked against real traces at other sizes; code that would break at other sizes is an
error at the user's line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models.torchvision_import import import_torchvision
from torch import nn
from trace_helpers import line_of

import ferry
from ferry.errors import ConversionError
from ferry.pipeline import trace_model
from ferry.progress import Progress
from ferry.trace import ValueKind, trace_module
from ferry.trace.symbolic import DimExpr, SymbolicShapeError

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def traced(model, args, input_shapes=None, dynamic_dims=None):
    return trace_model(
        model, args, None, input_shapes, None, None, Progress(False, "m"), dynamic_dims
    )


def sizes_at(dims, values):
    return tuple(d.evaluate(values) if isinstance(d, DimExpr) else d for d in dims)


def assert_follows(model, shape, other_shapes, input_shapes_of):
    """Every value's symbolic shape, evaluated at another input size, is the shape a real trace
    at that size records (both traces have the same value ids)."""
    x = torch.rand(shape)
    trace = traced(model, [x], input_shapes={x: input_shapes_of(shape)})
    assert trace.symbols
    computed = [v for v in trace.values if v.kind == ValueKind.COMPUTED]
    assert sum(v.dims is not None for v in computed) > len(computed) // 2
    for other in other_shapes:
        real = trace_module(model, [torch.rand(other)])
        assert len(real.values) == len(trace.values)
        values = [other[s.dim] for s in trace.symbols]
        for value, twin in zip(trace.values, real.values):
            expected = tuple(twin.shape)
            if value.dims is None:
                assert tuple(value.shape) == expected, value.id
            else:
                assert sizes_at(value.dims, values) == expected, value.id


def test_resnet_sizes_follow_batch_height_and_width():
    torchvision = import_torchvision()
    model = torchvision.models.resnet18(weights=None).eval()
    assert_follows(
        model,
        (2, 3, 64, 64),
        [(3, 3, 65, 97), (1, 3, 33, 40)],
        lambda s: (None, 3, None, None),
    )


class Attention(nn.Module):
    """Head split and merge computed from the runtime length, and a causal mask."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, 4, c // 4).permute(2, 0, 3, 1, 4)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return y.transpose(1, 2).reshape(b, t, c)


def test_attention_sizes_follow_batch_and_length():
    assert_follows(
        Attention().eval(), (2, 7, 16), [(3, 5, 16), (1, 11, 16)], lambda s: (None, None, 16)
    )


def test_arguments_holding_a_free_size_are_marked():
    x = torch.rand(2, 7, 16)
    trace = traced(Attention().eval(), [x], dynamic_dims={x: {0: "batch", 1: "length"}})
    assert [s.name for s in trace.symbols] == ["batch", "length"]
    views = [n for n in trace.nodes if n.op == "torch.Tensor.view"]
    assert views and views[0].sym_args == ["size"]
    ones = [n for n in trace.nodes if n.op == "torch.ones"]
    assert ones and ones[0].sym_args == ["size"]
    # No call that only computes from weights holds one.
    assert not any(n.sym_args for n in trace.nodes if n.op == "torch.nn.functional.linear")


class TwoInputs(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b], 1)


def test_dims_that_share_a_name_are_one_symbol():
    a, b = torch.rand(2, 3), torch.rand(2, 5)
    trace = traced(TwoInputs(), [a, b], dynamic_dims={"input_0": {0: "batch"}, 1: {0: "batch"}})
    assert [(s.name, s.input, s.dim, s.hint) for s in trace.symbols] == [("batch", 0, 0, 2)]
    out = trace.values[trace.output_refs()[0].value]
    assert out.dims == (DimExpr("sym", (0,)), 8)


def test_same_sized_dims_without_a_shared_name_stay_apart():
    a, b = torch.rand(4, 4), torch.rand(4, 4)
    trace = traced(TwoInputs(), [a, b], input_shapes={a: (None, 4), b: (None, 4)})
    assert len(trace.symbols) == 2


class Branches(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > 3:  # branch on a free size
            return x * 2
        return x


class Pins(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(2, -1)  # pins the batch


def test_branching_on_a_free_size_names_the_line():
    with pytest.raises(SymbolicShapeError) as error:
        traced(Branches(), [torch.rand(2, 5)], input_shapes={0: (2, None)})
    message = str(error.value)
    assert f"{__file__}:{line_of(Branches.forward, 'branch on a free size')}" in message
    assert "torch.cond" in message


def test_pinning_a_free_size_names_the_line():
    with pytest.raises(SymbolicShapeError) as error:
        traced(Pins(), [torch.rand(2, 5)], input_shapes={0: (None, 5)})
    message = str(error.value)
    assert "fixes it to 2" in message
    assert f"{__file__}:{line_of(Pins.forward, 'pins the batch')}" in message


@pytest.mark.parametrize(
    ("input_shapes", "dynamic_dims", "expected"),
    [
        ({"y": (None, 5)}, None, "not one of the model's inputs"),
        ({0: (None, 6)}, None, "gives (None, 6) for input 'input_0' of shape (2, 5)"),
        ({0: (None,)}, None, "gives (None,) for input"),
        (None, {0: {2: "n"}}, "dim 2 for input 'input_0' of rank 2"),
        (None, {0: {0: "not a name"}}, "use a name like 'batch'"),
    ],
)
def test_bad_declarations_are_clear_errors(input_shapes, dynamic_dims, expected):
    with pytest.raises(ValueError, match=None) as error:
        traced(nn.ReLU(), [torch.rand(2, 5)], input_shapes, dynamic_dims)
    assert expected in str(error.value)


def test_a_free_dim_traced_at_size_one_is_followed():
    """nobuco's examples trace a batch of one with the batch free."""
    torchvision = import_torchvision()
    model = torchvision.models.resnet18(weights=None).eval()
    assert_follows(model, (1, 3, 64, 64), [(3, 3, 65, 97)], lambda s: (None, 3, None, None))


def test_an_empty_free_dim_is_refused():
    with pytest.raises(SymbolicShapeError, match="empty in the example input"):
        traced(nn.ReLU(), [torch.rand(0, 5)], input_shapes={0: (None, 5)})


class Pair(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a * 2, b * 2


def test_a_shared_name_needs_equal_example_sizes():
    a, b = torch.rand(2, 3), torch.rand(4, 3)
    with pytest.raises(SymbolicShapeError, match="same size in the example inputs"):
        traced(Pair(), [a, b], dynamic_dims={0: {0: "batch"}, 1: {0: "batch"}})


class OnesOfBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.ones(x.shape[0], 4)


def test_a_call_sized_by_a_free_dim_is_made_at_run_time_not_folded():
    """torch.ones(batch, 4) becomes a FILL to the run-time batch, not the traced constant."""
    x = torch.rand(3, 4)
    data = ferry.pytorch_to_tflite(
        OnesOfBatch(), [x], input_shapes={x: (None, 4)}, verbose=False, validate=False
    )
    ops = {op[0] for op in ferry._core.read_tflite(bytes(data))["ops"]}
    assert "FILL" in ops
    interpreter = Interpreter(model_content=bytes(data))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [5, 4], strict=True)
    interpreter.allocate_tensors()
    fresh = torch.rand(5, 4)
    interpreter.set_tensor(detail["index"], fresh.numpy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.abs(got - OnesOfBatch()(fresh).numpy()).max() == 0


def test_ops_without_free_size_support_refuse_naming_the_op_and_dim(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.PixelShuffle(2)).eval()
    x = torch.rand(2, 3, 16, 16)
    path = tmp_path / "m.tflite"
    with pytest.raises(ConversionError) as error:
        ferry.pytorch_to_tflite(
            model, [x], input_shapes={x: (None, 3, 16, 16)}, path=path, verbose=False
        )
    assert "PixelShuffle: cannot take a free size yet (dim 0 of 'input' is input_0_dim0)" in str(
        error.value
    )
    assert not path.exists()
    with pytest.raises(ConversionError, match="cannot take a free size yet"):
        ferry.pytorch_to_keras(model, [x], dynamic_dims={x: {0: "batch"}}, verbose=False)


def test_the_model_and_its_inputs_are_unchanged():
    model = Attention().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 7, 16)
    kept = x.clone()
    traced(model, [x], input_shapes={x: (None, None, 16)})
    assert torch.equal(x, kept)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not isinstance(next(model.parameters()), torch._subclasses.fake_tensor.FakeTensor)
