"""One-line op cases: a callable, its input specs, expanded over both channel orders.

A case is `case(id, fn, *specs)`; a spec is a shape (standard-normal floats) or a callable
that returns a tensor (`pos(...)`, `ints(...)`). `params(cases)` gives one pytest parameter
per case and channel order: every case whose inputs or outputs have rank >= 3 runs with
inputs/outputs in PyTorch order ("pt") and in TensorFlow order ("tf"); below rank 3 the two
orders coincide and the case runs once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

Spec = tuple[int, ...] | Callable[[], torch.Tensor]


def pos(*shape: int) -> Callable[[], torch.Tensor]:
    """Floats in [0.5, 1.5): away from zero, for log, sqrt, division."""
    return lambda: torch.rand(shape) + 0.5


def ints(high: int, *shape: int) -> Callable[[], torch.Tensor]:
    """int64 in [0, high), e.g. embedding indices."""
    return lambda: torch.randint(0, high, shape)


class Fn(torch.nn.Module):
    """A function as a module, to put in an nn.Sequential."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


@dataclass
class Case:
    id: str
    fn: Callable[..., Any]
    specs: Sequence[Spec]
    tol: float = 1e-5
    marks: Sequence[Any] = field(default_factory=tuple)

    def make_inputs(self) -> list[torch.Tensor]:
        return [s() if callable(s) else torch.randn(s) for s in self.specs]

    def has_rank3(self) -> bool:
        if isinstance(self.fn, torch.nn.Module):
            self.fn.eval()  # a training-mode forward would update BatchNorm statistics
        inputs = self.make_inputs()
        # A probe for the ranks only: PyTorch's own warnings belong to the test run.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.fn(*inputs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return any(t.dim() >= 3 for t in [*inputs, *outs])

    def run(self, compare: Callable[..., Any], channels_last: bool) -> Any:
        torch.manual_seed(0)
        return compare(self.fn, self.make_inputs, tol=self.tol, channels_last=channels_last)


def case(
    id: str, fn: Callable[..., Any], *specs: Spec, tol: float = 1e-5, marks: Sequence[Any] = ()
) -> Case:
    return Case(id, fn, specs, tol, tuple(marks))


def params(cases: Sequence[Case]) -> list[Any]:
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate case ids: {sorted(duplicates)}"
    return [
        pytest.param(
            c, channels_last, id=f"{c.id}-{'tf' if channels_last else 'pt'}", marks=c.marks
        )
        for c in cases
        for channels_last in ((False, True) if c.has_rank3() else (False,))
    ]


PARAMS = ("case", "channels_last")
