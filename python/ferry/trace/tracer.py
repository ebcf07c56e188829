"""Eager tracing: run the model once and record a tree of calls with SSA tensor values.

Three observers run together and are all removed afterwards, even on errors (nothing is
monkeypatched, so TorchScript and torch.export keep working in the same process):
- global module forward pre/post hooks → MODULE nodes,
- a TorchFunctionMode → FUNCTION nodes (torch functions, F.*, Tensor methods),
- a TorchDispatchMode → ATEN nodes (the aten ops beneath them).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from .control_flow import control_flow_traced
from .functions import traceable_info
from .model import TensorRef, Trace, TraceNode, TraceValue, ValueKind, iter_refs
from .recorder import Recorder
from .structures import iter_tensors, map_structure, map_tensors

SUPPORTED_DTYPES = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
)

_active = threading.local()  # .recorder: the Recorder tracing in this thread, if any


class _FunctionMode(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        recorder = self.recorder
        if recorder.quiet:
            return func(*args, **kwargs)
        info = recorder.functions.info(func)
        if info.skip:
            return recorder.call_quietly(func, args, kwargs)
        if recorder.is_reentry(func):
            return func(*args, **kwargs)
        return recorder.call_function(info, tuple(args), kwargs, self)


class _DispatchMode(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise torch wraps __torch_dispatch__ in a dynamo-disable shim, which imports
        # torch._dynamo (seconds) on first use and adds a layer to every op. Nothing here
        # runs under torch.compile.
        return False

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if self.recorder.quiet:
            return func(*args, **kwargs)
        return self.recorder.call_aten(func, tuple(args), kwargs)


@contextlib.contextmanager
def _observing(recorder: Recorder) -> Iterator[None]:
    module_hooks = torch.nn.modules.module
    handles = []
    outer = getattr(_active, "recorder", None)  # a trace this one is nested in, if any
    _active.recorder = recorder
    try:
        handles.append(module_hooks.register_module_forward_pre_hook(recorder.module_pre_hook))
        handles.append(
            module_hooks.register_module_forward_hook(
                recorder.module_post_hook, with_kwargs=True, always_call=True
            )
        )
        with (
            torch.no_grad(),
            control_flow_traced(traceable, Nested()),
            _FunctionMode(recorder),
            _DispatchMode(recorder),
        ):
            yield
    finally:
        for handle in handles:
            handle.remove()
            # RemovableHandle forgets this flag dict (torch 2.13): leave no entry behind.
            module_hooks._global_forward_hooks_with_kwargs.pop(handle.id, None)
        _active.recorder = outer


F = TypeVar("F", bound=Callable[..., Any])


def traceable(fn: F) -> F:
    """Record calls of `fn` as one FUNCTION node (its torch calls become its children)."""
    info = traceable_info(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = getattr(_active, "recorder", None)
        if recorder is None or recorder.quiet:
            return fn(*args, **kwargs)
        return recorder.call_function(info, args, kwargs, None, keep=True)

    # Converters are registered for what the user can name: the decorated function (or
    # `Class.method`), not the function inside it.
    info.target = wrapper
    return wrapper  # type: ignore[return-value]


def example_inputs(
    module: torch.nn.Module | Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any] | None
) -> list[torch.Tensor]:
    """The tensors trace_module takes as the graph's inputs, in its order."""
    args, kwargs = _check_arguments(module, args, kwargs)
    return _unique(iter_tensors((args, kwargs)))


def input_names_of(given: list[str] | None, count: int) -> list[str]:
    """The names trace_module gives the graph's inputs."""
    return _names(given, count, "input")


def trace_module(
    module: torch.nn.Module | Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any] | None = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
) -> Trace:
    """Run `module(*args, **kwargs)` once and record what happened."""
    root = _root_module(module)
    args, kwargs = _check_arguments(module, args, kwargs)
    _refuse_arrays((args, kwargs), "")
    # The model runs on copies: a model that writes into its input in place must not change
    # the caller's tensors (copies of one tensor passed twice stay one tensor).
    copies: dict[int, torch.Tensor] = {}
    args, kwargs = map_tensors(
        (args, kwargs), lambda t: copies.setdefault(id(t), t.detach().clone())
    )
    inputs = _unique(iter_tensors((args, kwargs)))
    names = _names(input_names, len(inputs), "input")
    for t, name in zip(inputs, names):
        if t.dtype not in SUPPORTED_DTYPES:
            supported = ", ".join(str(d).removeprefix("torch.") for d in SUPPORTED_DTYPES)
            raise TypeError(
                f"ferry: input '{name}' has dtype {t.dtype}, which Ferry does not support ({supported})"
            )
    if getattr(_active, "recorder", None) is not None:
        raise RuntimeError(
            "ferry: trace_module was called while another trace is running in this thread"
        )

    recorder = Recorder(root)
    input_ids = [
        recorder.table.add(t, ValueKind.INPUT, name=name) for t, name in zip(inputs, names)
    ]
    with _observing(recorder), _control_flow_unseen(recorder):
        result = module(*args, **kwargs)
    outputs = recorder.refs(result)
    n_outputs = sum(1 for _ in iter_refs(outputs))
    if output_names is None:
        output_names = _keyed_names(outputs)
    return _finish(recorder, outputs, input_ids, names, _names(output_names, n_outputs, "output"))


class Nested:
    """Tracing inside a trace, for control flow (control_flow.py)."""

    @staticmethod
    def recorder() -> Recorder | None:
        """The recorder of the trace running in this thread, if any."""
        return getattr(_active, "recorder", None)

    @staticmethod
    @contextlib.contextmanager
    def unrecorded() -> Iterator[None]:
        """What runs inside is not recorded by the running trace."""
        outer: Recorder | None = getattr(_active, "recorder", None)
        if outer is None:
            yield
            return
        previous, outer.quiet = outer.quiet, True
        try:
            yield
        finally:
            outer.quiet = previous

    @staticmethod
    def trace(
        fn: Callable[..., Any], args: Sequence[torch.Tensor], input_names: list[str]
    ) -> tuple[Trace, Recorder]:
        """Traces `fn(*args)` on its own while another trace runs (a loop's body, say): the
        running trace sees nothing of it. Parameters and module paths are named as in the
        running trace's model. The recorder comes back too: its table knows the live tensors
        the function read."""
        outer: Recorder = _active.recorder
        recorder = Recorder(outer.root)
        with Nested.unrecorded():
            copies = [t.detach().clone() for t in args]
            input_ids = [
                recorder.table.add(t, ValueKind.INPUT, name=name)
                for t, name in zip(copies, input_names)
            ]
            with _observing(recorder):
                result = fn(*copies)
        outputs = recorder.refs(result)
        count = sum(1 for _ in iter_refs(outputs))
        names = _names(None, count, "output")
        return _finish(recorder, outputs, input_ids, input_names, names), recorder


@contextlib.contextmanager
def _control_flow_unseen(recorder: Recorder) -> Iterator[None]:
    """A while_loop or cond that reached the dispatcher as PyTorch's own function (a name
    bound before the conversion started keeps it: Ferry replaces the module attributes) ends
    in PyTorch's error about dispatch modes: say what happened and what to write instead."""
    try:
        yield
    except NotImplementedError as error:
        found = re.search(r"HigherOrderOperator (\w+)", str(error))
        if found is None or found.group(1) not in ("while_loop", "cond"):
            raise
        name = found.group(1)
        call = "torch._higher_order_ops.while_loop" if name == "while_loop" else "torch.cond"
        where = recorder.locator.raised(error.__traceback__)
        raise NotImplementedError(
            f"ferry: {where or '?'}: PyTorch's own {name} ran without Ferry seeing the call: a "
            f"name bound before the conversion started (`from torch._higher_order_ops import "
            f"{name}` at module level, say) keeps it. Call it as {call}(...) inside forward"
        ) from None


def _refuse_arrays(obj: Any, path: str) -> None:
    """NumPy arrays would reach the model as constants and fail somewhere inside it."""
    if isinstance(obj, np.ndarray):
        where = path or "an argument"
        raise TypeError(
            f"ferry: {where} is a numpy.ndarray; pass torch tensors "
            f"(torch.from_numpy(array)) as the model's example inputs"
        )
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, item in enumerate(obj):
            _refuse_arrays(item, f"{path}[{i}]" if path else ("args", "kwargs")[i])
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _refuse_arrays(item, f"{path}[{key!r}]")


def _root_module(module: Any) -> torch.nn.Module | None:
    if isinstance(module, torch.nn.Module):
        return module
    if not callable(module):
        raise TypeError(
            f"ferry: trace_module expected a torch.nn.Module or a callable, got {type(module).__name__}"
        )
    owner = getattr(module, "__self__", None)  # e.g. `model.forward_features`
    return owner if isinstance(owner, torch.nn.Module) else None


def _check_arguments(module: Any, args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not isinstance(args, (list, tuple)):
        raise TypeError(
            f"ferry: args must be a list or tuple of positional arguments (e.g. args=[x]), "
            f"got {type(args).__name__}"
        )
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise TypeError(f"ferry: kwargs must be a dict or None, got {type(kwargs).__name__}")
    target = module.forward if isinstance(module, torch.nn.Module) else module
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return tuple(args), kwargs
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        name = (
            type(module).__name__ + ".forward"
            if isinstance(module, torch.nn.Module)
            else _name_of(module)
        )
        raise TypeError(f"ferry: the arguments do not match {name}{signature}: {e}") from None
    return tuple(args), kwargs


def _name_of(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _unique(tensors: Iterator[torch.Tensor]) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _keyed_names(outputs: Any) -> list[str] | None:
    """Output names from dict keys, in iter_refs order: `{"out": y}` names y "out" (a tensor
    inside a list under a key gets its index too, "aux_0"). None when no output is keyed."""
    names: list[str] = []
    keyed = False

    def walk(obj: Any, path: list[str]) -> None:
        nonlocal keyed
        if isinstance(obj, TensorRef):
            names.append("_".join(path) if path else f"output_{len(names)}")
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(item, [*path, str(i)] if path else [])
        elif isinstance(obj, dict):
            keyed = True
            for key, item in obj.items():
                walk(item, [*path, str(key)])

    walk(outputs, [])
    return names if keyed else None


def _names(given: list[str] | None, count: int, prefix: str) -> list[str]:
    if given is None:
        return [f"{prefix}_{i}" for i in range(count)]
    if len(given) != count:
        raise ValueError(f"ferry: {len(given)} {prefix}_names given for {count} {prefix} tensors")
    return list(given)


def _finish(
    recorder: Recorder,
    outputs: Any,
    input_ids: list[int],
    input_names: list[str],
    output_names: list[str],
) -> Trace:
    """Drop discarded nodes (their children move up), number the rest in pre-order."""
    old = recorder.nodes
    kept: list[TraceNode] = []
    new_id: dict[int, int] = {}

    def visit(nid: int, parent: int) -> None:
        node = old[nid]
        children = node.children
        if nid in recorder.discarded:
            for child in children:
                visit(child, parent)
            return
        new_id[nid] = node.id = len(kept)
        node.parent, node.children = parent, []
        kept.append(node)
        if parent >= 0:
            kept[parent].children.append(node.id)
        for child in children:
            visit(child, node.id)

    for root in [n.id for n in old if n.parent == -1]:
        visit(root, -1)
    values = recorder.table.values
    for value in values:
        if value.producer >= 0:
            value.producer = new_id.get(value.producer, -1)
            if value.producer < 0:  # made by a call that failed inside the model
                value.kind = ValueKind.CONSTANT
    resolve = functools.partial(_resolve_refs, values)
    for node in kept:
        node.raw_args = resolve(node.raw_args)
        node.raw_kwargs = resolve(node.raw_kwargs)
    return Trace(
        nodes=kept,
        values=values,
        roots=[n.id for n in kept if n.parent == -1],
        inputs=input_ids,
        outputs=outputs,
        input_names=input_names,
        output_names=output_names,
    )


def _resolve_refs(values: list[TraceValue], obj: Any) -> Any:
    """raw_args hold the recorded (detached, snapshot) tensors, not the live ones."""
    return map_structure(
        obj, lambda leaf: values[leaf.value].data if isinstance(leaf, TensorRef) else leaf
    )
