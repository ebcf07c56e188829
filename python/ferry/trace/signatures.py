"""Binding recorded call arguments to parameter names.

Converters look arguments up by name, so `torch.add(x, y)`, `x.add(y)` and `x + y` must
bind alike, and `x.view(1, 2)` must look like `x.view((1, 2))`. Where the signatures come
from is in `signature_sources`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .model import TensorRef

REQUIRED = inspect.Parameter.empty
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY

# Names of int-list parameters, for signatures without types (docstrings, lambdas).
SIZE_NAMES = frozenset({"size", "sizes", "shape", "dims", "repeats", "reps"})
# Of those, the ones torch also accepts as one int (`x.flip(0)`). Not `size`: for
# F.interpolate and pooling one int means "this size in every dimension".
_ONE_INT_LISTS = frozenset({"dims", "shape", "repeats", "reps"})


@dataclass(frozen=True)
class Param:
    name: str
    kind: inspect._ParameterKind
    default: Any = REQUIRED
    accepts: Callable[[Any], bool] | None = None  # a type check, to choose between overloads
    int_list: int = 0  # an int list: -1 any length, N for `int[N]`; 0 not an int list


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]

    def bind(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Bind like Python does (defaults filled in); None when the call does not fit."""
        bound: dict[str, Any] = {}
        positional = [p for p in self.params if p.kind in POSITIONAL]
        var = next((p for p in self.params if p.kind == VAR_POSITIONAL), None)
        n = min(len(args), len(positional))
        for p, a in zip(positional[:n], args[:n]):
            bound[p.name] = a
        if len(args) > n:
            packed = _pack_varargs(positional, bound, list(args[n:]), var)
            if packed is None:
                return None
            bound[packed[0]] = packed[1]
        names = {p.name: p for p in self.params}
        varkw = any(p.kind == VAR_KEYWORD for p in self.params)
        extra_kw: dict[str, Any] = {}
        for k, v in kwargs.items():
            p = names.get(k)
            if k in bound or (p is not None and p.kind == inspect.Parameter.POSITIONAL_ONLY):
                return None
            if p is not None and p.kind != VAR_KEYWORD:
                bound[k] = v  # includes `zeros(size=(2, 3))` for `zeros(*size)`
            elif varkw:
                extra_kw[k] = v
            else:
                return None
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in bound:
                value = bound[p.name]
                if p.int_list or (p.kind == VAR_POSITIONAL and p.name in SIZE_NAMES):
                    value = _int_list(value, p.int_list)
                    if value is None:
                        return None  # e.g. `x.view(torch.half)`: another overload
                if p.accepts is not None and not p.accepts(value):
                    return None
                out[p.name] = value
            elif p.kind == VAR_POSITIONAL:
                out[p.name] = []
            elif p.kind == VAR_KEYWORD:
                continue
            elif p.default is REQUIRED:
                return None
            else:
                out[p.name] = p.default
        out.update(extra_kw)
        return out


def _pack_varargs(
    positional: list[Param], bound: dict[str, Any], extra: list[Any], var: Param | None
) -> tuple[str, Any] | None:
    if var is not None:
        return var.name, extra
    # torch's parser takes a lone int-list parameter as varargs: `x.flip(0, 1)`.
    first = 1 if positional and positional[0].name == "input" else 0
    if len(positional) != first + 1:
        return None
    param = positional[first]
    if not (param.int_list or param.name in SIZE_NAMES):
        return None
    items = [bound[param.name], *extra]
    return (param.name, items) if all(is_int_like(i) for i in items) else None


def is_int_like(v: Any) -> bool:
    return isinstance(v, (int, torch.SymInt, TensorRef)) and not isinstance(v, bool)


def _int_list(v: Any, length: int) -> Any:
    """`(1, 2)`, `torch.Size([1, 2])` and varargs `[(1, 2)]` → `[1, 2]`; `3` → `[3] * N`."""
    if v is None:
        return None if length == 0 else v  # Optional int lists stay None
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], (list, tuple)):
        v = v[0]
    if is_int_like(v):
        return [v] * (length if length > 0 else 1)
    if not isinstance(v, (list, tuple)) or not all(is_int_like(i) for i in v):
        return None
    return [int(i) if isinstance(i, int) else i for i in v]


def normalize(bound: dict[str, Any], sizes: bool = True) -> dict[str, Any]:
    """torch.Size → list of int everywhere; with `sizes`, known int-list names → lists too.

    `sizes` is for torch's own functions; user functions (modules, @traceable) keep theirs.
    """
    if not sizes:
        return {k: _no_size(v) for k, v in bound.items()}
    out = {}
    for k, v in bound.items():
        if k in SIZE_NAMES and isinstance(v, tuple):
            v = list(v)
        elif k in _ONE_INT_LISTS and is_int_like(v):
            v = [v]
        out[k] = _no_size(v)
    return out


def _no_size(v: Any) -> Any:
    if isinstance(v, torch.Size):
        return [d if isinstance(d, torch.SymInt) else int(d) for d in v]
    if type(v) is list:
        return [_no_size(i) for i in v]
    if type(v) is tuple:
        return tuple(_no_size(i) for i in v)
    return v


def bind_index(args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`__getitem__` / `__setitem__`: the index always becomes a tuple under `index`."""
    values = [*args, *kwargs.values()]
    index = values[1] if len(values) > 1 else ()
    items = index if type(index) is tuple else (index,)
    out: dict[str, Any] = {"input": values[0] if values else None}
    out["index"] = tuple(_index_item(i) for i in items)
    if len(values) > 2:
        out["value"] = values[2]
    return out


def _index_item(item: Any) -> Any:
    if isinstance(item, slice):
        return slice(_slice_field(item.start), _slice_field(item.stop), _slice_field(item.step))
    return _no_size(item)


def _slice_field(v: Any) -> Any:
    # PyTorch reads tensor slice bounds as ints. A free size (SymInt) stays symbolic: int()
    # would pin it to its traced value.
    if v is None or isinstance(v, torch.SymInt):
        return v
    return int(v)


def positional_fallback(args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {f"arg{i}": a for i, a in enumerate(args)}
    out.update(kwargs)
    return out
