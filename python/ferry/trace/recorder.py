"""The recorder: turns calls seen by the modes and module hooks into TraceNodes.

Everything the recorder does for itself (detach, clone, reading storages) runs "quiet": the
dispatch mode lets those ops through unrecorded and torch-function handling is disabled, so
bookkeeping never shows up in the trace.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import signature_sources, signatures
from .functions import FuncInfo, FunctionTable, aten_name
from .locations import Locator, class_location
from .model import NodeKind, TensorRef, TraceNode, ValueKind, iter_refs
from .structures import contains_tensor, iter_tensors, map_tensors
from .values import ValueTable

# (tensor, version at entry, its value id, its view base or None, the base's value id or -1)
Watched = tuple[torch.Tensor, int, int, "torch.Tensor | None", int]


@dataclass
class Frame:
    node: TraceNode
    first_value: int  # value ids from here on were created inside the call
    watch: list[Watched] = field(default_factory=list)


@dataclass(frozen=True)
class AtenInfo:
    op: str
    signature: signatures.Signature
    writes: tuple[tuple[int, str], ...]  # (position, name) of arguments the op writes
    view_source: str | None  # argument the outputs are views of


def _aten_info(func: torch._ops.OpOverload) -> AtenInfo:
    schema = func._schema
    writes, sets = [], {}
    for i, a in enumerate(schema.arguments):
        alias = a.alias_info
        if alias is not None:
            if alias.is_write:
                writes.append((i, a.name))
            for s in alias.before_set:
                sets.setdefault(s, a.name)
    source = None
    for r in schema.returns:
        alias = r.alias_info
        if alias is not None and not alias.is_write:
            source = next((sets[s] for s in alias.before_set if s in sets), None)
    if source is None:
        # `Tensor(a -> *) self ... -> Tensor(a)[]` (split, unbind, chunk): a list of views whose
        # alias set the schema keeps on the list's elements, out of Python's reach. The
        # argument that flows into the wildcard set is what they view.
        source = next(
            (
                a.name
                for a in schema.arguments
                if a.alias_info is not None
                and not a.alias_info.is_write
                and "*" in a.alias_info.after_set
            ),
            None,
        )
    return AtenInfo(aten_name(func), signature_sources.from_schema(schema), tuple(writes), source)


def _fresh_outputs(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A @traceable call that hands back an argument unchanged (`return inputs`, as nobuco's
    own order hints do) returns an alias of it instead: a new tensor object, so the call has an
    output of its own that later calls read, and its converter and channel-order strategy
    apply. Values and storage are shared, so the model computes exactly the same."""
    given = {id(t) for t in iter_tensors((args, kwargs))}
    if not given:
        return result
    return map_tensors(result, lambda t: t.view_as(t) if id(t) in given else t)


class Quiet:
    """Bookkeeping section: nothing in it is traced."""

    __slots__ = ("recorder", "previous", "guard")

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def __enter__(self) -> None:
        self.previous = self.recorder.quiet
        self.recorder.quiet = True
        self.guard = torch._C.DisableTorchFunction()
        self.guard.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.guard.__exit__(*exc)
        self.recorder.quiet = self.previous


class Recorder:
    def __init__(self, root: torch.nn.Module | None) -> None:
        self.root = root
        self.nodes: list[TraceNode] = []
        self.discarded: set[int] = set()
        self.stack: list[Frame] = []
        self.quiet = False
        self.thread = threading.get_ident()
        self.reentry: tuple[Any, int] | None = None  # (function, node) being re-run with mode on
        self.locator = Locator()
        self.functions = FunctionTable()
        names: dict[int, str] = {}
        self._paths: dict[int, str] = {}
        self._alive: list[torch.nn.Module] = []  # on-the-fly modules: keep their id() unique
        if root is not None:
            for name, t in [*root.named_parameters(), *root.named_buffers()]:
                names.setdefault(id(t), name)
            for name, m in root.named_modules():
                self._paths.setdefault(id(m), name)
        self._used_paths = set(self._paths.values())
        self.table = ValueTable(names, self._late_write)
        self._aten: dict[torch._ops.OpOverload, AtenInfo] = {}
        self._forward_signatures: dict[Any, signatures.Signature | None] = {}

    def _late_write(self, node: int, value: int) -> None:
        self.nodes[node].mutated.append(value)

    # -- helpers ------------------------------------------------------------------------------

    def scope(self) -> str:
        return self.stack[-1].node.scope if self.stack else ""

    def _open(self, kind: NodeKind, op: str, target: Any, scope: str) -> TraceNode:
        parent = self.stack[-1].node if self.stack else None
        node = TraceNode(len(self.nodes), kind, op, target, {}, None, scope=scope)
        node.parent = parent.id if parent is not None else -1
        if parent is not None:
            parent.children.append(node.id)
        self.nodes.append(node)
        return node

    def refs(self, obj: Any, watch: list[Watched] | None = None) -> Any:
        """Tensors → TensorRefs of their current values (unseen tensors become constants)."""

        def ref(t: torch.Tensor) -> TensorRef:
            vid = self.table.use(t)
            if watch is not None:
                base = t._base
                base_vid = self.table.use(base) if base is not None else -1
                watch.append((t, t._version, vid, base, base_vid))
            return TensorRef(vid)

        return map_tensors(obj, ref)

    def outputs(
        self,
        obj: Any,
        producer: int,
        view_of: int | None = None,
        written: dict[int, int] | None = None,
    ) -> Any:
        """Tensors → TensorRefs; tensors not seen before are values made by `producer`."""

        def ref(t: torch.Tensor) -> TensorRef:
            if written and id(t) in written:  # an in-place op returning what it just wrote
                return TensorRef(written[id(t)])
            vid = self.table.find(t)
            if vid is None:
                source = view_of
                if source is None:
                    base = t._base
                    current = self.table.current(base) if base is not None else None
                    source = -1 if current is None else current
                vid = self.table.add(t, ValueKind.COMPUTED, producer, view_of=source)
            return TensorRef(vid)

        return map_tensors(obj, ref)

    def mutations(self, frame: Frame) -> tuple[list[int], list[tuple[int, int]]]:
        """Inputs whose version moved during the call (a write through a view moves the base)."""
        mutated: list[int] = []
        view_writes: list[tuple[int, int]] = []
        seen: set[int] = set()
        producer = frame.node.id
        for t, version, old, base, base_old in frame.watch:
            if t._version == version or id(t) in seen:
                continue
            seen.add(id(t))
            new = self._after_write(t, producer, old)
            mutated.append(new)
            if base is not None:
                new_base = self._after_write(base, producer, base_old)
                if id(base) not in seen:
                    seen.add(id(base))
                    mutated.append(new_base)
                view_writes.append((new, base_old))
        return mutated, view_writes

    def _after_write(self, t: torch.Tensor, producer: int, old: int) -> int:
        vid = self.table.find(t)
        if vid is None:  # written by something the dispatch mode did not see
            vid = self.table.add(t, ValueKind.COMPUTED, producer, previous=old)
        return vid

    # -- torch functions, Tensor methods, @traceable -------------------------------------------

    def call_quietly(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """Metadata reads (`x.shape`, `print(x)`, `x.item()`): the ops inside are no nodes."""
        previous, self.quiet = self.quiet, True
        try:
            return func(*args, **kwargs)
        finally:
            self.quiet = previous

    def is_reentry(self, func: Any) -> bool:
        """The Python function being re-run handed itself back: run it plainly this time."""
        entry = self.reentry
        if entry is None or entry[0] is not func or not self.stack:
            return False
        top = self.stack[-1].node
        return top.id == entry[1] and not top.children

    def call_function(
        self,
        info: FuncInfo,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        mode: Any,
        keep: bool = False,
    ) -> Any:
        with Quiet(self):
            frame = Frame(
                self._open(NodeKind.FUNCTION, info.op, info.target, self.scope()),
                len(self.table.values),
            )
            raw_args, raw_kwargs = self.refs(args, frame.watch), self.refs(kwargs, frame.watch)
        self.stack.append(frame)
        previous_reentry = self.reentry
        try:
            if info.nested:
                self.reentry = (info.target, frame.node.id)
                if mode is not None:
                    with mode:  # re-enabled so the torch calls inside become child nodes
                        result = info.run(*args, **kwargs)
                else:
                    result = info.run(*args, **kwargs)
            else:
                result = info.run(*args, **kwargs)
        except BaseException:
            self.discarded.add(frame.node.id)
            raise
        finally:
            self.stack.pop()
            self.reentry = previous_reentry
        with Quiet(self):
            node = frame.node
            mutated, view_writes = self.mutations(frame)
            if not keep and not mutated and not contains_tensor(result):
                self.discarded.add(node.id)  # a metadata read; children move up to the parent
                return result
            if keep:
                result = _fresh_outputs(result, args, kwargs)
            node.outputs = self.outputs(result, node.id)
            node.mutated, node.view_writes = mutated, view_writes
            node.raw_args, node.raw_kwargs = raw_args, raw_kwargs
            node.args = info.bind(raw_args, raw_kwargs)
            node.invoked = self.locator.invoked()
            node.defined = info.defined
        return result

    # -- aten ops ------------------------------------------------------------------------------

    def call_aten(
        self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        info = self._aten.get(func)
        if info is None:
            info = self._aten[func] = _aten_info(func)
        with Quiet(self):
            raw_args, raw_kwargs = self.refs(args), self.refs(kwargs)
            written = [
                t
                for i, name in info.writes
                for t in iter_tensors(args[i] if i < len(args) else kwargs.get(name))
            ]
            for w in written:
                if w._base is not None:
                    self.table.use(w._base)  # the base gets a new value too: know its old one
            targets = self.table.prepare_write(written) if written else []
        result = func(*args, **kwargs)
        with Quiet(self):
            if not written and not contains_tensor(result):
                return result  # e.g. `_local_scalar_dense` behind `.item()`: a Python value
            node = self._open(NodeKind.ATEN, info.op, func, self.scope())
            write = self.table.commit_write(targets, node.id)
            node.mutated, node.view_writes = write.mutated, write.view_writes
            node.raw_args, node.raw_kwargs = raw_args, raw_kwargs
            bound = info.signature.bind(raw_args, raw_kwargs)
            node.args = (
                bound if bound is not None else signatures.positional_fallback(raw_args, raw_kwargs)
            )
            source = node.args.get(info.view_source) if info.view_source else None
            view_of = source.value if isinstance(source, TensorRef) else -1
            node.outputs = self.outputs(result, node.id, view_of, write.new)
            if view_of >= 0:
                # Autograd links a view to its base's version counter only after this returns.
                version = self.table.tensor(view_of)._version
                for out, r in zip(iter_tensors(result), iter_refs(node.outputs)):
                    self.table.expect_version(out, version, r.value)
            node.invoked = self.locator.invoked()
        return result

    # -- modules -------------------------------------------------------------------------------

    def _module_path(self, module: torch.nn.Module) -> str:
        path = self._paths.get(id(module))
        if path is None:  # created on the fly in a forward: name it after its class
            parent = self.scope()
            base = f"{parent}.{type(module).__name__}" if parent else type(module).__name__
            path, i = base, 1
            while path in self._used_paths:
                path, i = f"{base}_{i}", i + 1
            self._used_paths.add(path)
            self._paths[id(module)] = path
            self._alive.append(module)
        return path

    def module_pre_hook(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if self.quiet or threading.get_ident() != self.thread:
            return
        with Quiet(self):
            cls = type(module)
            op = f"{cls.__module__}.{cls.__qualname__}"
            node = self._open(NodeKind.MODULE, op, module, self._module_path(module))
            frame = Frame(node, len(self.table.values))
            node.raw_args = self.refs(args, frame.watch)
            node.invoked = self.locator.invoked()
            node.defined = class_location(cls)
        self.stack.append(frame)

    def module_post_hook(self, module: torch.nn.Module, args: tuple[Any, ...], *rest: Any) -> None:
        if self.quiet or threading.get_ident() != self.thread:
            return
        # Normal return: (kwargs, result). After an exception torch passes (result,) only.
        failed = len(rest) != 2
        kwargs, result = ({}, None) if failed else rest
        index = next(
            (i for i in range(len(self.stack) - 1, -1, -1) if self.stack[i].node.target is module),
            None,
        )
        if index is None:
            return
        frame = self.stack[index]
        del self.stack[index:]
        if failed:
            self.discarded.add(frame.node.id)
            return
        with Quiet(self):
            node = frame.node
            node.raw_kwargs = self._module_kwargs(kwargs, frame, node)
            node.outputs = self.outputs(result, node.id)
            mutated, view_writes = self.mutations(frame)
            node.mutated = [*mutated, *(v for v in node.mutated if v not in mutated)]
            node.view_writes = view_writes
            bound = None
            signature = self._forward_signature(module)
            if signature is not None:
                bound = signature.bind(node.raw_args, node.raw_kwargs)
            if bound is None:
                bound = signatures.positional_fallback(node.raw_args, node.raw_kwargs)
            node.args = signatures.normalize(bound, sizes=False)

    def _module_kwargs(
        self, kwargs: dict[str, Any], frame: Frame, node: TraceNode
    ) -> dict[str, Any]:
        """Global pre-hooks get no kwargs: find the values the kwargs had when the call began."""

        def ref(t: torch.Tensor) -> TensorRef:
            before = self.table.before(t, frame.first_value)
            if before is None:
                return TensorRef(self.table.use(t))
            now = self.table.current(t)
            if now is not None and now != before and now not in node.mutated:
                node.mutated.append(now)
            return TensorRef(before)

        return map_tensors(kwargs, ref)

    def _forward_signature(self, module: torch.nn.Module) -> signatures.Signature | None:
        forward = module.forward
        key = getattr(forward, "__func__", forward)
        try:
            return self._forward_signatures[key]
        except KeyError:
            pass
        except TypeError:
            return None
        try:
            signature: signatures.Signature | None = signature_sources.from_inspect(
                inspect.signature(forward), torch_api=False
            )
        except (TypeError, ValueError):
            signature = None
        self._forward_signatures[key] = signature
        return signature
