"""SSA values for the tensors a trace sees.

A value is one tensor object at one `_version`; an in-place write makes a new value. Tensors
are keyed by `id()`, so every tensor ever recorded is kept alive (ids are never reused).
Recorded data aliases the live tensor until a write to its storage is about to happen, and is
cloned just before, so each value keeps the contents it had while it was current.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch._subclasses.fake_tensor import FakeTensor

from .model import TraceValue, ValueKind


def _storage_key(t: torch.Tensor) -> int:
    try:
        storage = t.untyped_storage()
        if isinstance(t, FakeTensor):  # no data: its storage object is its identity
            return storage._cdata
        return storage.data_ptr()
    except (RuntimeError, NotImplementedError):  # sparse / nested / no storage
        return 0


class ValueTable:
    def __init__(
        self, constant_names: dict[int, str], on_late_write: Callable[[int, int], None]
    ) -> None:
        self.values: list[TraceValue] = []
        self._tensors: list[torch.Tensor] = []  # value id → tensor object
        self._by_key: dict[tuple[int, int], int] = {}  # (id(tensor), version) → value id
        self._history: dict[int, list[int]] = {}  # id(tensor) → value ids, oldest first
        self._pending: dict[int, int] = {}  # id(tensor) → value of its next, not yet seen version
        self._last_write: dict[int, int] = {}  # id(view base) → node that last wrote to it
        self._sharing: dict[int, dict[int, torch.Tensor]] = {}  # storage → tensors on it
        self._aliased: set[int] = set()  # values whose data is still the live storage
        self._constant_names = constant_names
        self._on_late_write = on_late_write

    def find(self, t: torch.Tensor) -> int | None:
        vid = self._by_key.get((id(t), t._version))
        return vid if vid is not None else self._moved(t)

    def _moved(self, t: torch.Tensor) -> int | None:
        """A known tensor at a version not seen yet: the result of a recorded write, if any."""
        vid = self._pending.pop(id(t), None)
        if vid is not None:
            self._by_key[(id(t), t._version)] = vid
            return vid
        history = self._history.get(id(t))
        if not history:
            return None
        # Another view of the same base was written (views share the version counter).
        base = t._base if t._base is not None else t
        writer = self._last_write.get(id(base))
        if writer is None:
            return None  # changed behind the trace's back: the caller makes it a constant
        old = history[-1]
        vid = self.add(
            t, ValueKind.COMPUTED, writer, view_of=self.values[old].view_of, previous=old
        )
        self._on_late_write(writer, vid)
        return vid

    def use(self, t: torch.Tensor) -> int:
        """The value of a tensor used as an input: unseen tensors are constants."""
        vid = self.find(t)
        if vid is None:
            vid = self.add(t, ValueKind.CONSTANT, name=self._constant_names.get(id(t), ""))
        return vid

    def add(
        self,
        t: torch.Tensor,
        kind: ValueKind,
        producer: int = -1,
        name: str = "",
        view_of: int = -1,
        previous: int = -1,
        pending: bool = False,
    ) -> int:
        vid = len(self.values)
        if kind is ValueKind.CONSTANT and not name:
            name = f"const_{vid}"
        data = t.detach()
        self.values.append(
            TraceValue(vid, kind, t.dtype, tuple(t.shape), data, name, producer, view_of, previous)
        )
        self._tensors.append(t)
        if pending:
            self._pending[id(t)] = vid
        else:
            self._by_key[(id(t), t._version)] = vid
        self._history.setdefault(id(t), []).append(vid)
        key = _storage_key(t)
        if key:
            self._sharing.setdefault(key, {})[id(t)] = t
            self._aliased.add(vid)
        return vid

    def tensor(self, vid: int) -> torch.Tensor:
        return self._tensors[vid]

    def expect_version(self, t: torch.Tensor, version: int, vid: int) -> None:
        """`t` will be seen at `version` too (a view, once it shares its base's counter)."""
        self._by_key.setdefault((id(t), version), vid)

    def current(self, t: torch.Tensor) -> int | None:
        history = self._history.get(id(t))
        return history[-1] if history else None

    def before(self, t: torch.Tensor, first_new: int) -> int | None:
        """The tensor's value from before value id `first_new` was created, if it had one."""
        history = self._history.get(id(t))
        if not history:
            return None
        i = bisect.bisect_left(history, first_new)
        return history[i - 1] if i else None

    def prepare_write(self, written: list[torch.Tensor]) -> list[tuple[torch.Tensor, int]]:
        """Snapshot every value living on the storages about to be written."""
        for key in {_storage_key(w) for w in written}:
            for t in self._sharing.get(key, {}).values():
                vid = self._history[id(t)][-1]
                if vid in self._aliased:
                    self.values[vid].data = self.values[vid].data.clone()
                    self._aliased.discard(vid)
        unique = {id(w): w for w in written}
        return [(w, self.use(w)) for w in unique.values()]

    def commit_write(self, written: list[tuple[torch.Tensor, int]], producer: int) -> Write:
        """New values for the written tensors and, for views, their bases.

        Called inside the dispatch mode, before autograd's in-place bookkeeping bumps the
        version counters: the new values wait in `_pending` for the next version seen.
        """
        write = Write()
        for w, old in written:
            vid = self.add(
                w,
                ValueKind.COMPUTED,
                producer,
                view_of=self.values[old].view_of,
                previous=old,
                pending=True,
            )
            write.mutated.append(vid)
            write.new[id(w)] = vid
            base = w._base
            if base is None:
                self._last_write[id(w)] = producer
                continue
            self._last_write[id(base)] = producer
            base_old = self.current(base)
            if base_old is None:
                continue
            if id(base) not in write.new:
                write.new[id(base)] = self.add(
                    base, ValueKind.COMPUTED, producer, previous=base_old, pending=True
                )
                write.mutated.append(write.new[id(base)])
            else:
                base_old = self.values[write.new[id(base)]].previous
            write.view_writes.append((vid, base_old))
        return write


@dataclass
class Write:
    """What one aten op wrote: node.mutated / node.view_writes, and id(tensor) → new value."""

    mutated: list[int] = field(default_factory=list)
    view_writes: list[tuple[int, int]] = field(default_factory=list)
    new: dict[int, int] = field(default_factory=dict)
