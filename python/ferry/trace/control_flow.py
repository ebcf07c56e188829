"""torch.cond and while_loop while Ferry traces.

Eager PyTorch runs one branch of `torch.cond`, so a trace would hold only the branch the
example took. While tracing, each branch is traced once on its own (`Nested.trace`) and the
call is recorded as one node carrying both traces: the converted model runs one branch (IF
with two subgraphs in `.tflite`, `tf.cond` in Keras). A predicate that is a Python bool is a
constant: that branch alone is traced, as PyTorch does. In a model with free sizes, whose
branches cannot be traced on their own yet, `torch.cond` runs both branches on the operands
and chooses each result with `torch.where(pred, true_result, false_result)`: exact for
branches without side effects (PyTorch requires them so), but both are computed.

`while_loop` repeats its body a data-dependent number of times. Its condition and body are
traced once each, on their own, and the call is recorded as one node that
carries both traces: the converted model runs them as a loop (WHILE with two subgraphs in
`.tflite`, a while loop in Keras). Tensors the functions read from outside (closures over
values the model computed) become loop values too, carried through unchanged. The example
runs the loop eagerly, unrecorded, for the values the rest of the trace sees.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils import _pytree as pytree

from .locations import Locator
from .model import TensorRef, Trace, TraceValue, ValueKind

if TYPE_CHECKING:
    from .recorder import Recorder
    from .tracer import Nested


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


WHILE_OP = "torch._higher_order_ops.while_loop"  # how a while_loop call is recorded
COND_OP = "torch.cond"  # how a torch.cond call is recorded
IF_OP = "torch.cond (branches)"  # the core's name for one that carries its traced branches

_select_branches = contextvars.ContextVar("ferry_select_branches", default=False)


@contextlib.contextmanager
def branches_selected() -> Iterator[None]:
    """While active, torch.cond computes both branches and selects (free sizes)."""
    token = _select_branches.set(True)
    try:
        yield
    finally:
        _select_branches.reset(token)


@dataclass
class BranchBodies:
    """The traced branches of one torch.cond call (argument `bodies` of its node). Both take
    the operands then the captured tensors, and return the branch's tensors in order."""

    then: Trace
    otherwise: Trace


def _leaves(value: Any, specs: list[Any], where: str) -> list[torch.Tensor]:
    leaves, spec = pytree.tree_flatten(value)
    if any(not isinstance(t, torch.Tensor) for t in leaves):
        raise TypeError(f"ferry: {where}: a branch of torch.cond must return tensors only")
    specs.append(spec)
    return leaves


def cond_traced(traceable: Callable[[Any], Any], nested: Nested) -> Callable[..., Any]:
    """torch.cond as Ferry traces it: each branch traced on its own, or (free sizes, Python
    bools, operands that are not tensors) as `cond_both_ways`."""
    both_ways = traceable(cond_both_ways)

    def branch(
        pred: torch.Tensor,
        true_fn: Callable[..., Any],
        false_fn: Callable[..., Any],
        operands: list[torch.Tensor],
        captured: list[torch.Tensor],
        bodies: BranchBodies,
    ) -> Any:
        """The recorded call: the branch taken runs eagerly and unrecorded."""
        with nested.unrecorded():
            return (true_fn if bool(pred) else false_fn)(*operands)

    branch.__module__, branch.__qualname__ = "torch", "cond"
    recorded = traceable(branch)

    def cond(
        pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], operands: Any = ()
    ) -> Any:
        args = tuple(operands) if isinstance(operands, (list, tuple)) else (operands,)
        outer = nested.recorder()
        if (
            _select_branches.get()
            or outer is None
            or outer.quiet
            or not isinstance(pred, torch.Tensor)
            or pred.numel() != 1
            or not args
            or any(not isinstance(a, torch.Tensor) or isinstance(a, FakeTensor) for a in args)
        ):
            return both_ways(pred, true_fn, false_fn, operands)
        where = _user_line()
        chosen = (pred if pred.dtype == torch.bool else pred != 0).reshape(())
        names = [f"operand_{i}" for i in range(len(args))]
        specs: list[Any] = []
        then = nested.trace(lambda *v: _leaves(true_fn(*v), specs, where), list(args), names)
        other = nested.trace(lambda *v: _leaves(false_fn(*v), specs, where), list(args), names)
        shapes = [
            [(t.values[r.value].shape, t.values[r.value].dtype) for r in t.output_refs()]
            for t in (then[0], other[0])
        ]
        if specs[0] != specs[1] or shapes[0] != shapes[1]:
            raise TypeError(
                f"ferry: {where}: the branches of torch.cond return different structures, "
                "shapes or dtypes; PyTorch requires them to match"
            )
        captured = _lift_captured(outer, [(*then, False), (*other, False)])
        return recorded(
            chosen, true_fn, false_fn, list(args), captured, BranchBodies(then[0], other[0])
        )

    return cond


@dataclass
class LoopBodies:
    """The traced condition and body of one while_loop call (argument `bodies` of its node).
    Both take the carried values then the captured ones; the body returns the new carried
    values then the captured ones unchanged."""

    cond: Trace
    body: Trace


def _predicate(value: Any, where: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or value.dtype != torch.bool:
        raise TypeError(
            f"ferry: {where}: the condition of while_loop must return a one-element bool tensor "
            f"(a Python bool would make the loop run forever or never), got "
            f"{type(value).__name__ if not isinstance(value, torch.Tensor) else value.dtype}"
        )
    return value.reshape(())


def _checked_results(values: Any, carried: list[torch.Tensor], where: str) -> tuple[Any, ...]:
    results = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if len(results) != len(carried) or any(
        not isinstance(r, torch.Tensor) or r.shape != c.shape or r.dtype != c.dtype
        for r, c in zip(results, carried)
    ):
        raise TypeError(
            f"ferry: {where}: the body of while_loop must return as many tensors as it is "
            "given, each with the shape and dtype of the one it replaces"
        )
    return results


def _lift_captured(
    outer: Recorder, functions: list[tuple[Trace, Recorder, bool]]
) -> list[torch.Tensor]:
    """Tensors the traced functions read that the outer trace computed or took as input (their
    constants so far), in first-use order. Each becomes an input of every function, after the
    ones it was traced with, and an output too of a function marked to return them (a loop's
    body, which carries them through unchanged)."""
    captured: list[torch.Tensor] = []
    index: dict[int, int] = {}
    uses: list[dict[int, int]] = []  # per function: its value id -> captured position
    for trace, recorder, _ in functions:
        found: dict[int, int] = {}
        for value in trace.values:
            if value.kind != ValueKind.CONSTANT:
                continue
            t = recorder.table.tensor(value.id)
            outer_id = outer.table.find(t)
            if outer_id is None or outer.table.values[outer_id].kind == ValueKind.CONSTANT:
                continue  # a parameter, buffer or tensor from outside the model: a constant
            found[value.id] = index.setdefault(id(t), len(captured))
            if found[value.id] == len(captured):
                captured.append(t)
        uses.append(found)
    names = [f"captured_{k}" for k in range(len(captured))]
    for (trace, _, returns_them), found in zip(functions, uses):
        slots = {k: vid for vid, k in found.items()}
        for k, t in enumerate(captured):
            if k not in slots:  # read by another function only: an unused input here
                data = t.detach()
                slots[k] = len(trace.values)
                trace.values.append(
                    TraceValue(slots[k], ValueKind.INPUT, data.dtype, tuple(data.shape), data)
                )
        vids = [slots[k] for k in range(len(captured))]
        for vid, name in zip(vids, names):
            trace.values[vid].kind = ValueKind.INPUT
            trace.values[vid].name = name
        trace.inputs += vids
        trace.input_names += names
        if returns_them:
            trace.outputs = [trace.outputs, [TensorRef(vid) for vid in vids]]
            trace.output_names += [f"{name}_out" for name in names]
    return captured


def _run_loop(
    cond_fn: Callable[..., Any], body_fn: Callable[..., Any], carried: list[torch.Tensor]
) -> tuple[Any, ...]:
    values = tuple(carried)
    while bool(cond_fn(*values)):
        values = tuple(body_fn(*values))
    return values


def while_loop_traced(traceable: Callable[[Any], Any], nested: Nested) -> Callable[..., Any]:
    """torch's while_loop as Ferry traces it (`nested` traces a function inside the trace)."""

    def loop(
        cond_fn: Callable[..., Any],
        body_fn: Callable[..., Any],
        carried_inputs: list[torch.Tensor],
        captured: list[torch.Tensor],
        bodies: LoopBodies,
    ) -> tuple[Any, ...]:
        """The recorded call: the loop runs eagerly and unrecorded (`bodies` holds its traces)."""
        with nested.unrecorded():
            return _run_loop(cond_fn, body_fn, carried_inputs)

    loop.__module__, loop.__qualname__ = "torch._higher_order_ops", "while_loop"
    recorded = traceable(loop)

    def while_loop(
        cond_fn: Callable[..., Any], body_fn: Callable[..., Any], carried_inputs: Any
    ) -> Any:
        where = _user_line()
        outer = nested.recorder()
        carried = list(carried_inputs) if isinstance(carried_inputs, (list, tuple)) else None
        if outer is None or outer.quiet:
            return _run_loop(cond_fn, body_fn, carried or [carried_inputs])
        if not carried or any(not isinstance(c, torch.Tensor) for c in carried):
            raise TypeError(
                f"ferry: {where}: while_loop takes a tuple of tensors as carried_inputs"
            )
        if any(
            isinstance(c, FakeTensor) or not all(isinstance(d, int) for d in c.shape)
            for c in carried
        ):
            raise NotImplementedError(
                f"ferry: {where}: a while_loop over values with a free size is not supported "
                "yet; make those dims static"
            )
        names = [f"carried_{i}" for i in range(len(carried))]
        cond = nested.trace(lambda *v: _predicate(cond_fn(*v), where), carried, names)
        body = nested.trace(
            lambda *v: _checked_results(body_fn(*v), carried, where), carried, names
        )
        captured = _lift_captured(outer, [(*cond, False), (*body, True)])
        return recorded(cond_fn, body_fn, carried, captured, LoopBodies(cond[0], body[0]))

    return while_loop


cond_both_ways.__module__, cond_both_ways.__qualname__ = "torch", "cond"


@contextlib.contextmanager
def control_flow_traced(traceable: Callable[[Any], Any], nested: Nested) -> Iterator[None]:
    """torch.cond and while_loop each recorded as one call carrying its traced functions, for
    the duration of a trace."""
    import torch._higher_order_ops as hops

    traced_cond = cond_traced(traceable, nested)
    saved = [
        (torch, "cond", torch.cond),
        (hops, "cond", hops.cond),
        (hops, "while_loop", hops.while_loop),
    ]
    try:
        torch.cond = traced_cond
        hops.cond = traced_cond
        hops.while_loop = while_loop_traced(traceable, nested)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
