"""`ferry.locate_converter(op)`: where the converter for a PyTorch op is, and its source.

    location, source = ferry.locate_converter(torch.nn.functional.relu_)

The search follows conversion: a converter registered with `@ferry.converter` wins, then
Ferry's built-in rule (C++, cpp/lower/), then, for a function or method without a rule of its
own, the rules of the aten ops of the same name it dispatches to.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import os
import textwrap
import types
from pathlib import Path
from typing import Any, NamedTuple

from ferry import converters
from ferry.converters import UserConverter, find_user_converter


class ConverterNotFoundError(LookupError):
    """Nothing in Ferry converts the op: no user converter and no built-in rule."""


class ConverterLocation(NamedTuple):
    location: str  # File "<path>", line N (and the path in Ferry's source tree)
    source: str  # the converter's source text


def locate_converter(op: Any) -> ConverterLocation:
    """Where the converter for `op` is defined, and its source text (as nobuco's).

    `op` is a torch function (`F.relu_`), a Tensor method (`torch.Tensor.repeat`), an
    nn.Module class or instance (`nn.LSTM`), an aten op, an op name as `ferry ops` prints it,
    or anything a converter was registered for with `@ferry.converter`. Raises
    ConverterNotFoundError (a LookupError) when nothing converts it.
    """
    user = _user_converter(op)
    if user is not None:
        return _user_location(user)
    from ferry import _core

    name = canonical_name(op)
    if _core.has_rule(name):
        return _rule_location(name)
    aten = _aten_rules(name)
    if aten:
        header = f"// {name} has no rule of its own; it is converted through its aten ops: "
        return _rule_location(aten[0], header + ", ".join(aten) + "\n")
    calls = _forward_calls(op)
    with_rules = [c for c in calls if _core.has_rule(c)]
    if with_rules:
        without = [c for c in calls if c not in with_rules]
        header = (
            f"// {name} has no rule of its own; its forward() is converted call by call.\n"
            f"// The torch functions it calls directly that have rules: {', '.join(with_rules)}\n"
        )
        if without:
            header += f"// Calls without a rule: {', '.join(without)}\n"
        return _rule_location(_closest(name, with_rules), header)
    raise ConverterNotFoundError(_not_found_message(op, name))


def canonical_name(op: Any) -> str:
    """The op name the tracer records for `op` (the name rules are registered under)."""
    if isinstance(op, str):
        return op
    import torch

    from ferry.trace.functions import op_name

    if isinstance(op, torch.nn.Module):
        op = type(op)
    if isinstance(op, type):
        return f"{op.__module__}.{op.__qualname__}"
    if isinstance(op, torch._ops.OpOverloadPacket):
        return op._qualified_op_name.replace("::", ".")
    if isinstance(op, types.GetSetDescriptorType) and op.__objclass__ in (
        torch._C.TensorBase,
        torch.Tensor,
    ):
        return f"torch.Tensor.{op.__name__}"  # a property such as Tensor.T
    return op_name(op)


def _user_converter(op: Any) -> UserConverter | None:
    if isinstance(op, str):
        from ferry.trace.functions import op_name

        # Conversion looks converters up by the traced call's target, so a converter
        # registered for the object is the one that applies to its op name.
        for key, user in converters._registry.items():
            if key == op or (not isinstance(key, str) and op_name(key) == op):
                return user
        return None
    if not isinstance(op, type) and _is_module_instance(op):
        op = type(op)
    if isinstance(op, type):
        for klass in op.__mro__:
            if klass is not object and klass in converters._registry:
                return converters._registry[klass]
        return None
    return find_user_converter(op)


def _is_module_instance(op: Any) -> bool:
    import torch

    return isinstance(op, torch.nn.Module)


def _user_location(user: UserConverter) -> ConverterLocation:
    func = inspect.unwrap(user.func)
    try:
        file = inspect.getsourcefile(func)
        lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        file, lines, first = None, [], 0
    if file is None or not lines:
        where = getattr(func, "__qualname__", repr(func))
        return ConverterLocation(
            f"{where} (source not available)",
            f"source not available: {where} has no Python source file",
        )
    line = first + _def_offset(lines)
    return ConverterLocation(
        f'File "{os.path.abspath(file)}", line {line}', textwrap.dedent("".join(lines)).rstrip()
    )


def _def_offset(lines: list[str]) -> int:
    """How many lines the decorators take before `def` (nobuco's location is the def)."""
    for i, text in enumerate(lines):
        if text.lstrip().startswith(("def ", "async def ")):
            return i
    return 0


def _rule_location(op: str, header: str = "") -> ConverterLocation:
    from ferry import _core
    from ferry.rule_source import rule_source

    site = _core.rule_location(op)
    file = _source_file(site["file"], site["relative"])
    if file is None:
        return ConverterLocation(
            f"{site['relative']}, line {site['line']} in Ferry's sources (source not available)",
            f"{header}source not available: {site['relative']} is not part of this installation "
            "of Ferry (an install from a source checkout has it)",
        )
    found = rule_source(file, site["line"], list(site["ops"]), _core.rule_mapping(op))
    return ConverterLocation(_file_line(found.file, found.line), header + found.text)


def _source_file(compiled: str, relative: str) -> Path | None:
    """The C++ file as the compiler saw it, else the same file in the tree of this package."""
    if os.path.isfile(compiled):
        return Path(compiled).resolve()
    # python/ferry/locate.py: the source tree's root is two levels above the package.
    candidate = Path(__file__).resolve().parents[2] / relative
    return candidate if not os.path.isabs(relative) and candidate.is_file() else None


def _file_line(file: Path, line: int) -> str:
    """`File "<absolute path>", line N`, plus the path within Ferry's source tree."""
    text = f'File "{file}", line {line}'
    for parent in file.parents:
        if parent.name == "cpp":
            return f"{text} ({file.relative_to(parent.parent)})"
    return text


def _aten_rules(name: str) -> list[str]:
    """Rules for the aten ops a function or method without a rule dispatches to.

    Found by name (`torch.Tensor.repeat` -> `aten.repeat.*`): that is what PyTorch's
    functions and methods call, and looking it up needs no example inputs."""
    from ferry import _core

    if name.startswith("aten."):
        if name.count(".") != 1:
            return []  # an overload without a rule
        prefix = name + "."  # an overload packet (torch.ops.aten.relu)
    else:
        prefix = f"aten.{name.rsplit('.', 1)[-1]}."
    return [op for op, _ in _core.rules() if op.startswith(prefix)]


def _forward_calls(op: Any) -> list[str]:
    """The torch functions a module class's forward() calls directly (`F.relu(...)`),
    looking into the methods of its own it calls (`self._conv_forward(...)`)."""
    cls = op if isinstance(op, type) else type(op) if _is_module_instance(op) else None
    forward = getattr(cls, "forward", None)
    names: list[str] = []
    if inspect.isfunction(forward):
        _scan_calls(cls, forward, names, {forward})
    return names


def _closest(name: str, ops: list[str]) -> str:
    """The call named like the module (ReLU -> relu, Conv2d -> conv2d), else the first."""
    cls = name.rsplit(".", 1)[-1].lower()
    return next((op for op in ops if op.rsplit(".", 1)[-1].lower() == cls), ops[0])


def _scan_calls(cls: type, func: types.FunctionType, names: list[str], seen: set[Any]) -> None:
    from ferry.trace.functions import op_name

    obj: Any = None
    on_self = False
    for ins in dis.get_instructions(func):
        if ins.opname == "LOAD_GLOBAL":
            obj = func.__globals__.get(ins.argval, getattr(builtins, ins.argval, None))
            continue
        if ins.opname == "LOAD_FAST" and ins.argval == "self":
            on_self = True
            continue
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            if on_self:
                method = inspect.getattr_static(cls, ins.argval, None)
                if inspect.isfunction(method) and method not in seen and len(seen) < 16:
                    seen.add(method)
                    _scan_calls(cls, method, names, seen)
            elif obj is not None:
                obj = getattr(obj, ins.argval, None)
                continue
        if callable(obj) and not isinstance(obj, type):
            name = op_name(obj)
            public = not any(part.startswith(("_", "<")) for part in name.split("."))
            if name.startswith("torch.") and public and name not in names:
                names.append(name)
        obj = None
        on_self = False


def _not_found_message(op: Any, name: str) -> str:
    stem = name.rsplit(".", 1)[-1] if not name.startswith("aten.") else name.split(".")[1]
    parts = [
        f"ferry: nothing converts {name}: no converter registered with @ferry.converter and "
        "no built-in rule"
    ]
    if isinstance(op, type) or _is_module_instance(op):
        parts.append(
            "; a module without a rule of its own converts through the calls inside its "
            "forward(), each by its own rule"
        )
    elif name.startswith("torch."):
        parts.append(f", nor for its aten ops (aten.{stem}.*)")
    elif not name.startswith("aten."):
        parts.append("; a function of your own converts through the torch calls inside it")
    parts.append(f". `ferry ops {stem}` lists the supported ops with a name like it.")
    return "".join(parts)
