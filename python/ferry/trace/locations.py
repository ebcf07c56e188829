"""Where a call was made (`invoked`) and where its callee is defined (`defined`).

This runs for every recorded call, so it walks frames with `sys._getframe` and caches the
"is this the user's code?" answer per file name instead of using `inspect.stack()`.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import os
import re
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

import torch

from .model import SourceLocation


def _dir_prefix(path: str | os.PathLike[str]) -> str:
    return os.path.join(os.path.normcase(os.path.realpath(path)), "")


_FERRY_DIR = _dir_prefix(Path(__file__).resolve().parent.parent)
_TORCH_DIR = _dir_prefix(Path(torch.__file__).parent)
_STDLIB_DIRS = tuple(
    {
        _dir_prefix(sysconfig.get_paths()[k])
        for k in ("stdlib", "platstdlib")
        if k in sysconfig.get_paths()
    }
)
# Libraries whose frames sit between the user's line and torch (decorators, wrappers).
_WRAPPER_MODULES = ("typing_extensions",)
_is_user_file: dict[str, bool] = {}


def _classify(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return False
    if filename.startswith("<"):
        return True  # exec'd or interactive code is the user's
    path = os.path.normcase(os.path.realpath(filename))
    if path.startswith((_FERRY_DIR, _TORCH_DIR)):
        return False
    if Path(path).stem in _WRAPPER_MODULES:
        return False
    for stdlib in _STDLIB_DIRS:
        if path.startswith(stdlib):
            rest = path[len(stdlib) :]
            return rest.startswith(("site-packages", "dist-packages"))
    return True


class Locator:
    """Finds the user's frame; interns SourceLocations so thousands of nodes share a few."""

    def __init__(self) -> None:
        self._interned: dict[tuple[str, int, str], SourceLocation] = {}

    def invoked(self) -> SourceLocation | None:
        frame: types.FrameType | None = sys._getframe(1)
        cache = _is_user_file
        while frame is not None:
            code = frame.f_code
            user = cache.get(code.co_filename)
            if user is None:
                user = cache[code.co_filename] = _classify(code.co_filename)
            if user:
                return self.intern(code.co_filename, frame.f_lineno, _code_name(code))
            frame = frame.f_back
        return None

    def raised(self, tb: types.TracebackType | None) -> SourceLocation | None:
        """The user's frame deepest in a traceback: the line an error came through last."""
        found = None
        while tb is not None:
            code = tb.tb_frame.f_code
            user = _is_user_file.get(code.co_filename)
            if user is None:
                user = _is_user_file[code.co_filename] = _classify(code.co_filename)
            if user:
                found = self.intern(code.co_filename, tb.tb_lineno, _code_name(code))
            tb = tb.tb_next
        return found

    def intern(self, file: str, line: int, function: str) -> SourceLocation:
        key = (file, line, function)
        loc = self._interned.get(key)
        if loc is None:
            loc = self._interned[key] = SourceLocation(file, line, function)
        return loc


def _code_name(code: types.CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)


_function_locations: dict[Any, SourceLocation | None] = {}
_class_locations: dict[type, SourceLocation | None] = {}


def function_location(func: Any) -> SourceLocation | None:
    """The `def` line of a Python function (through functools.wraps); None for C functions."""
    try:
        if func in _function_locations:
            return _function_locations[func]
    except TypeError:  # unhashable callable
        return _function_location(func)
    loc = _function_locations[func] = _function_location(func)
    return loc


def _function_location(func: Any) -> SourceLocation | None:
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle: use the function as is
        func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    return SourceLocation(code.co_filename, code.co_firstlineno, _code_name(code))


def class_location(cls: type) -> SourceLocation | None:
    if cls not in _class_locations:
        _class_locations[cls] = _class_location(cls)
    return _class_locations[cls]


def _class_location(cls: type) -> SourceLocation | None:
    try:
        file = inspect.getsourcefile(cls)
    except (OSError, TypeError):  # built-in, or defined where Python keeps no source (a REPL)
        return None
    if file is None:
        return None
    # `inspect.getsourcelines` parses the whole file; scanning back from the first method to
    # the `class` line costs almost nothing and gives the same answer.
    first = _first_method_line(cls, file)
    if first is not None:
        pattern = re.compile(rf"^\s*class\s+{re.escape(cls.__name__)}\b")
        lines = linecache.getlines(file)
        for i in range(min(first, len(lines)) - 1, -1, -1):
            if pattern.match(lines[i]):
                return SourceLocation(file, i + 1, cls.__qualname__)
    try:
        return SourceLocation(file, inspect.getsourcelines(cls)[1], cls.__qualname__)
    except (OSError, TypeError):
        return None


def _first_method_line(cls: type, file: str) -> int | None:
    lines = []
    for attr in vars(cls).values():
        func = attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
        try:
            func = inspect.unwrap(func)
        except ValueError:
            continue
        code = getattr(func, "__code__", None)
        if isinstance(code, types.CodeType) and code.co_filename == file:
            lines.append(code.co_firstlineno)
    return min(lines) if lines else None
