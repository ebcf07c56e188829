"""Every (op, fused activation) pair the writer emits loads and runs in LiteRT.

Some builtins carry an activation field their kernel rejects when the interpreter prepares
the model (CONCATENATION's, for one); XNNPACK may take such a node and hide that, so each
file is also run with LiteRT's own kernels only. One small model per (producer, activation)
pattern; each checks which ops carry which activation and that both runs match PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from litert_cases import PT, Fn, assert_matches
from torch import nn

import ferry
from ferry import _core

ACTIVATIONS = {
    "RELU": nn.ReLU(),
    "RELU6": nn.ReLU6(),
    "RELU_N1_TO_1": nn.Hardtanh(-1.0, 1.0),
}


def _bn(channels: int, dims: int = 2) -> nn.Module:
    bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims](channels)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    return bn


# (id, producer module, input shapes, the op expected to carry the activation or None when
# the activation must stay an op of its own)
PRODUCERS = [
    ("conv2d", lambda: nn.Conv2d(4, 6, 3), [(1, 4, 7, 7)], "CONV_2D"),
    ("conv2d-bn", lambda: nn.Sequential(nn.Conv2d(4, 6, 3), _bn(6)), [(1, 4, 7, 7)], "CONV_2D"),
    ("conv2d-grouped", lambda: nn.Conv2d(4, 6, 3, groups=2), [(1, 4, 7, 7)], "CONV_2D"),
    (
        "conv2d-grouped-bn",
        lambda: nn.Sequential(nn.Conv2d(8, 8, 3, groups=4), _bn(8)),
        [(1, 8, 7, 7)],
        "CONV_2D",
    ),
    ("conv1d-grouped", lambda: nn.Conv1d(4, 6, 3, groups=2), [(1, 4, 9)], "CONV_2D"),
    ("depthwise", lambda: nn.Conv2d(4, 4, 3, groups=4), [(1, 4, 7, 7)], "DEPTHWISE_CONV_2D"),
    ("conv3d", lambda: nn.Conv3d(2, 4, 3), [(1, 2, 5, 5, 5)], "CONV_3D"),
    # One CONV_3D per group, then CONCATENATION, which takes no fused activation.
    ("conv3d-grouped", lambda: nn.Conv3d(4, 4, 3, groups=2), [(1, 4, 5, 5, 5)], None),
    ("linear", lambda: nn.Linear(5, 3), [(2, 5)], "FULLY_CONNECTED"),
    ("add", lambda: Fn(lambda a, b: a + b), [(2, 5), (2, 5)], "ADD"),
    ("sub", lambda: Fn(lambda a, b: a - b), [(2, 5), (2, 5)], "SUB"),
    ("mul", lambda: Fn(lambda a, b: a * b), [(2, 5), (2, 5)], "MUL"),
    ("div", lambda: Fn(lambda a, b: a / (b.abs() + 1)), [(2, 5), (2, 5)], "DIV"),
    ("max_pool", lambda: nn.MaxPool2d(2), [(1, 3, 6, 6)], "MAX_POOL_2D"),
    ("avg_pool", lambda: nn.AvgPool2d(2), [(1, 3, 6, 6)], "AVERAGE_POOL_2D"),
    ("batch_norm", lambda: Fn(lambda x: _BN(x * 2)), [(1, 3, 4, 4)], "ADD"),
    ("cat", lambda: Fn(lambda a, b: torch.cat([a, b], 1)), [(1, 2, 3, 3), (1, 3, 3, 3)], None),
]
_BN = _bn(3).eval()


class Then(nn.Module):
    """producer(*inputs), then the activation."""

    def __init__(self, producer: nn.Module, activation: nn.Module):
        super().__init__()
        self.producer, self.activation = producer, activation

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.producer(*inputs))


def _invoke(data: bytes, inputs: list[np.ndarray], delegates: bool) -> np.ndarray:
    kind = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=data, experimental_op_resolver_type=kind)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize(
    ("producer", "shapes", "carrier"),
    [p[1:] for p in PRODUCERS],
    ids=[p[0] for p in PRODUCERS],
)
def test_fused_activation_loads_and_runs(producer, shapes, carrier, activation):
    torch.manual_seed(0)
    model = Then(producer(), ACTIVATIONS[activation]).eval()
    traced = [torch.randn(*s) for s in shapes]
    data = ferry.pytorch_to_tflite(
        model, traced, inputs_channel_order=PT, outputs_channel_order=PT, verbose=False
    )
    fused = [(op[0], op[4]) for op in _core.read_tflite(data)["ops"] if op[4] not in ("", "NONE")]
    assert fused == ([(carrier, activation)] if carrier else []), fused
    inputs = [torch.randn(*s) * 3 for s in shapes]
    with torch.no_grad():
        expected = model(*inputs).numpy()
    for delegates in (True, False):
        got = _invoke(data, [x.numpy() for x in inputs], delegates)
        assert_matches(got, expected, 1e-5)
