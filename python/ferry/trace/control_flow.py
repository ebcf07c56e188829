"""torch.cond and while_loop while Ferry traces.

Eager PyTorch runs one branch of `torch.cond`, so a trace would hold only the branch the
example took. While tracing, `torch.cond` runs both branches on the operands and chooses each
result with `torch.where(pred, true_result, false_result)`: the converted model computes both
and selects, exact for branches without side effects (PyTorch requires them so). A predicate
that is a Python bool is a constant: that branch alone is traced, as PyTorch does.

`while_loop` repeats its body a data-dependent number of times, which a flat graph cannot
express yet: it is refused at the user's line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils import _pytree as pytree

from .locations import Locator


def _user_line() -> str:
    where = Locator().invoked()
    return str(where) if where is not None else "?"


def cond_both_ways(
    pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], operands: Any = ()
) -> Any:
    """torch.cond as Ferry traces it: both branches, then a select."""
    args = tuple(operands) if isinstance(operands, (list, tuple)) else (operands,)
    if isinstance(pred, torch.SymBool):
        raise ValueError(
            f"ferry: {_user_line()}: the predicate of torch.cond follows a free size; a "
            "branch chosen by a size at run time is not supported yet (make that dim static)"
        )
    if isinstance(pred, (bool, int)):
        return (true_fn if pred else false_fn)(*args)
    if not isinstance(pred, torch.Tensor) or pred.numel() != 1:
        raise TypeError(
            f"ferry: {_user_line()}: torch.cond takes a bool or a one-element tensor as its "
            f"predicate, got {type(pred).__name__}"
        )
    chosen = pred if pred.dtype == torch.bool else pred != 0
    taken, spec = pytree.tree_flatten(true_fn(*args))
    other, other_spec = pytree.tree_flatten(false_fn(*args))
    if spec != other_spec or any(
        not isinstance(a, torch.Tensor)
        or not isinstance(b, torch.Tensor)
        or a.shape != b.shape
        or a.dtype != b.dtype
        for a, b in zip(taken, other)
    ):
        raise TypeError(
            f"ferry: {_user_line()}: the branches of torch.cond return different structures, "
            "shapes or dtypes; PyTorch requires them to match"
        )
    selected = [torch.where(chosen.reshape(()), a, b) for a, b in zip(taken, other)]
    return pytree.tree_unflatten(selected, spec)


def while_loop_refused(cond_fn: Any, body_fn: Any, carried_inputs: Any, *rest: Any) -> Any:
    raise NotImplementedError(
        f"ferry: {_user_line()}: torch while_loop (a data-dependent number of iterations) is "
        "not supported yet; a loop with a fixed count traces as plain Python"
    )


cond_both_ways.__module__, cond_both_ways.__qualname__ = "torch", "cond"


@contextlib.contextmanager
def control_flow_traced(traceable: Callable[[Any], Any]) -> Iterator[None]:
    """torch.cond recorded as one call (its branches and the select inside), while_loop
    refused, for the duration of a trace."""
    import torch._higher_order_ops as hops

    traced_cond = traceable(cond_both_ways)
    saved = [
        (torch, "cond", torch.cond),
        (hops, "cond", hops.cond),
        (hops, "while_loop", hops.while_loop),
    ]
    try:
        torch.cond = traced_cond
        hops.cond = traced_cond
        hops.while_loop = while_loop_refused
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
