"""One-op models through the direct TFLite writer, run in LiteRT against PyTorch.

`run(fn, specs, *params)` converts `fn` with PyTorch-order inputs and outputs, runs the
`.tflite` in LiteRT (XNNPACK on) on fresh inputs not used for tracing, compares with PyTorch
and returns the emitted `(op name, version)` pairs. A spec is a shape (standard-normal floats
for tracing, `randn * 3 + 1` for the check) or a callable returning a tensor (called once for
tracing and once for the check). Floating outputs must agree within
`tolerance * max(1, max |expected|)` (NaN and equal infinities match); integer and bool
outputs exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from op_cases import assert_close

import ferry
from ferry import _core
from ferry.tflite import run_tflite

PT = ferry.ChannelOrder.PYTORCH
Spec = tuple[int, ...] | Callable[[], torch.Tensor]


class Fn(torch.nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor], *params: torch.Tensor):
        super().__init__()
        self.fn = fn
        self.params = torch.nn.ParameterList(params)

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args, *self.params)


def _make(spec: Spec, fresh: bool) -> torch.Tensor:
    if callable(spec):
        return spec()
    x = torch.randn(*spec)
    return x * 3 + 1 if fresh else x


def assert_matches(got: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    assert_close(got, expected, tolerance, exact_dtype=True)


def run(
    fn: Callable[..., torch.Tensor] | torch.nn.Module,
    specs: Sequence[Spec],
    *params: torch.Tensor,
    tolerance: float = 1e-5,
    fresh: Sequence[torch.Tensor] | None = None,
) -> list[tuple[str, int]]:
    """Converts, checks LiteRT against PyTorch on fresh inputs, returns (op, version) pairs."""
    model = fn if isinstance(fn, torch.nn.Module) else Fn(fn, *params)
    model.eval()
    data = ferry.pytorch_to_tflite(
        model,
        [_make(s, fresh=False) for s in specs],
        inputs_channel_order=PT,
        outputs_channel_order=PT,
    )
    inputs = list(fresh) if fresh is not None else [_make(s, fresh=True) for s in specs]
    with torch.no_grad():
        expected = model(*inputs).numpy()
    (got,) = run_tflite(data, [x.numpy() for x in inputs])
    assert_matches(got, expected, tolerance)
    return ops_of(data)


def ops_of(data: bytes) -> list[tuple[str, int]]:
    return [(op[0], op[1]) for op in _core.read_tflite(data)["ops"]]


def convert(
    fn: Callable[..., torch.Tensor] | torch.nn.Module, specs: Sequence[Spec], *params: torch.Tensor
) -> bytes:
    """Only the conversion (for refusals and structure checks)."""
    model = fn if isinstance(fn, torch.nn.Module) else Fn(fn, *params)
    return ferry.pytorch_to_tflite(
        model.eval(),
        [_make(s, fresh=False) for s in specs],
        inputs_channel_order=PT,
        outputs_channel_order=PT,
    )
