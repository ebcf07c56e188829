"""Walking the nested lists/tuples/dicts that torch calls take and return."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch


def map_structure(obj: Any, fn: Callable[[Any], Any]) -> Any:
    """Rebuild `obj` with every leaf (anything but a list/tuple/dict) replaced by `fn(leaf)`."""
    cls = type(obj)
    if cls is list:
        return [map_structure(o, fn) for o in obj]
    if cls is tuple:
        return tuple(map_structure(o, fn) for o in obj)
    if cls is dict:
        return {k: map_structure(v, fn) for k, v in obj.items()}
    if isinstance(obj, torch.Size):
        return fn(obj)
    if isinstance(obj, dict):
        return _rebuild(obj, [(k, map_structure(v, fn)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return _rebuild(obj, [map_structure(o, fn) for o in obj])
    return fn(obj)


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Rebuild `obj` with every tensor leaf replaced by `fn(tensor)`; other leaves stay."""
    return map_structure(obj, lambda leaf: fn(leaf) if isinstance(leaf, torch.Tensor) else leaf)


def _rebuild(obj: Any, items: list[Any]) -> Any:
    """Keep namedtuples, torch.return_types and dict subclasses when they can be rebuilt."""
    cls = type(obj)
    try:
        if hasattr(obj, "_fields"):
            return cls(*items)
        return cls(items)
    except Exception:  # a subclass with its own constructor: fall back to the plain container
        if isinstance(obj, dict):
            return dict(items)
        return list(items) if isinstance(obj, list) else tuple(items)


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for o in obj:
            yield from iter_tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from iter_tensors(o)


def contains_tensor(obj: Any) -> bool:
    return next(iter_tensors(obj), None) is not None
