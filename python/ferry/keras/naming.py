"""Keras layer names derived from PyTorch module paths."""

from __future__ import annotations

import re

# Keras 3 forbids "/" and TF name scopes accept only this alphabet, starting with a letter,
# digit or dot (checked when a model is exported).
_INVALID = re.compile(r"[^A-Za-z0-9_.\-]")
_BAD_START = re.compile(r"^[_\-]+")


def sanitise(name: str) -> str:
    name = _BAD_START.sub("", _INVALID.sub("_", name))
    return name or "layer"


class LayerNames:
    """Hands out unique layer names in call order, so the same graph gets the same names.

    The first native layer of a module scope is named after the scope itself (the conv of
    `layer1.0.conv1` is `layer1.0.conv1`); everything else is `{scope}.{op}` with `_1`, `_2`,
    ... appended on repeats, or just the op name at the root scope."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next: dict[str, int] = {}
        self._scopes_taken: set[str] = set()

    def unique(self, base: str) -> str:
        base = sanitise(base)
        name, k = base, self._next.get(base, 1)
        while name in self._used:
            name = f"{base}_{k}"
            k += 1
        self._next[base] = k
        self._used.add(name)
        return name

    def for_op(self, scope: str, op: str, native: bool) -> str:
        if native and scope and scope not in self._scopes_taken:
            self._scopes_taken.add(scope)
            if sanitise(scope) not in self._used:
                return self.unique(scope)
        return self.unique(f"{scope}.{op}" if scope else op)
