"""One-line op cases, each run against PyTorch on both back ends and in both channel orders.

A case is `case(id, fn, *specs)`; a spec is a shape (standard-normal floats) or a callable
that returns a tensor (`pos(...)`, `ints(...)`). `params(cases)` gives one pytest parameter
per case, back end ("keras": the Keras model; "tflite": the direct writer's file run in
LiteRT with XNNPACK) and channel order: every case whose inputs or outputs have rank >= 3
runs with inputs/outputs in PyTorch order ("pt") and in TensorFlow order ("tf"); below rank 3
the two orders coincide and the case runs once per back end.

A test module then needs one function:

    @pytest.mark.parametrize(PARAMS, params(CASES))
    def test_ops(case, backend, channels_last):
        case.check(backend, channels_last)

Each check converts on one draw of inputs and compares on a second, fresh draw. Floating
outputs must agree within `tol * max(1, max |expected|)` (NaN where PyTorch has NaN, equal
infinities); integer and bool outputs exactly, with the same dtype on the `.tflite` path
(Keras keeps PyTorch's int64 where TFLite narrows; only values are compared there).

Where one back end cannot express a case, `refuses={"tflite": "regex"}` turns that run into a
check that the conversion is refused with a matching ConversionError.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

Spec = tuple[int, ...] | Callable[[], torch.Tensor]
BACKENDS = ("keras", "tflite")


def pos(*shape: int) -> Callable[[], torch.Tensor]:
    """Floats in [0.5, 1.5): away from zero, for log, sqrt, division."""
    return lambda: torch.rand(shape) + 0.5


def ints(high: int, *shape: int, low: int = 0) -> Callable[[], torch.Tensor]:
    """int64 in [low, high), e.g. embedding indices."""
    return lambda: torch.randint(low, high, shape)


def bools(*shape: int) -> Callable[[], torch.Tensor]:
    """A random boolean mask."""
    return lambda: torch.rand(shape) > 0.5


class Fn(torch.nn.Module):
    """A function as a module, to put in an nn.Sequential."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


def _tf_order(x: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if channels_last and x.ndim >= 3 else x


def assert_close(got: np.ndarray, expected: np.ndarray, tol: float, exact_dtype: bool) -> None:
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    if expected.dtype == np.bool_ or np.issubdtype(expected.dtype, np.integer):
        if exact_dtype:
            assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
        np.testing.assert_array_equal(got, expected)
        return
    e, g = expected.astype(np.float64), got.astype(np.float64)
    same = (e == g) | (np.isnan(e) & np.isnan(g))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(e - g))
    finite = np.abs(e[np.isfinite(e)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    assert not np.isnan(diff).any(), "NaN where PyTorch has a number"
    assert diff.max(initial=0.0) <= tol * scale, f"max diff {diff.max()} > {tol} x {scale}"


def _outputs(out: Any) -> list[np.ndarray]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(o.detach().numpy() if isinstance(o, torch.Tensor) else o) for o in outs]


@dataclass
class Case:
    id: str
    fn: Callable[..., Any]
    specs: Sequence[Spec]
    tol: float = 1e-5
    marks: Sequence[Any] = field(default_factory=tuple)
    refuses: Mapping[str, str] = field(default_factory=dict)

    def module(self) -> torch.nn.Module:
        m = self.fn if isinstance(self.fn, torch.nn.Module) else Fn(self.fn)
        return m.eval()  # a training-mode forward would update BatchNorm statistics

    def make_inputs(self) -> list[torch.Tensor]:
        return [s() if callable(s) else torch.randn(s) for s in self.specs]

    def has_rank3(self) -> bool:
        module = self.module()
        inputs = self.make_inputs()
        # A probe for the ranks only: PyTorch's own warnings belong to the test run.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = module(*inputs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return any(t.dim() >= 3 for t in [*inputs, *outs])

    def check(self, backend: str, channels_last: bool) -> None:
        import ferry

        torch.manual_seed(0)
        module = self.module()
        order = ferry.ChannelOrder.TENSORFLOW if channels_last else ferry.ChannelOrder.PYTORCH
        options = dict(inputs_channel_order=order, outputs_channel_order=order, verbose=False)
        trace_inputs = self.make_inputs()
        if backend in self.refuses:
            with pytest.raises(ferry.ConversionError, match=self.refuses[backend]):
                self._convert(backend, module, trace_inputs, options)
            return
        run = self._convert(backend, module, trace_inputs, options)
        fresh = self.make_inputs()
        with torch.no_grad():
            expected = _outputs(module(*fresh))
        got = run([_tf_order(x.numpy(), channels_last) for x in fresh])
        assert len(got) == len(expected), f"{len(got)} outputs, PyTorch has {len(expected)}"
        for g, e in zip(got, expected):
            assert_close(g, _tf_order(e, channels_last), self.tol, backend == "tflite")

    @staticmethod
    def _convert(
        backend: str, module: torch.nn.Module, inputs: list[torch.Tensor], options: dict
    ) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
        import ferry

        if backend == "keras":
            model = ferry.pytorch_to_keras(module, args=inputs, **options)
            return lambda xs: _outputs(model(xs if len(xs) > 1 else xs[0]))
        from ferry.tflite import run_tflite

        data = ferry.pytorch_to_tflite(module, inputs, **options)
        return lambda xs: run_tflite(data, xs)


def case(
    id: str,
    fn: Callable[..., Any],
    *specs: Spec,
    tol: float = 1e-5,
    marks: Sequence[Any] = (),
    refuses: Mapping[str, str] | None = None,
) -> Case:
    return Case(id, fn, specs, tol, tuple(marks), dict(refuses or {}))


def params(cases: Sequence[Case], backends: Sequence[str] = BACKENDS) -> list[Any]:
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate case ids: {sorted(duplicates)}"
    return [
        pytest.param(
            c,
            backend,
            channels_last,
            id=f"{c.id}-{backend}-{'tf' if channels_last else 'pt'}",
            marks=c.marks,
        )
        for c in cases
        for backend in backends
        for channels_last in ((False, True) if c.has_rank3() else (False,))
    ]


PARAMS = ("case", "backend", "channels_last")
