"""Where parameter names come from, best source first.

Torch builtins have no `inspect` signature. Their Python bindings are generated from the
aten schemas, so a builtin named like an aten op (`torch.max`, `Tensor.view`,
`torch._C._nn.hardswish`) binds with that op's overload schemas, typed loosely to pick the
right overload (`self` renamed `input`). Then come `torch.overrides.get_testing_overrides()`
lambdas, the signature lines of the docstrings, and `inspect.signature` for Python code.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import re
import types
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .model import TensorRef
from .signatures import (
    KEYWORD_ONLY,
    REQUIRED,
    VAR_POSITIONAL,
    Param,
    Signature,
    bind_index,
    is_int_like,
    normalize,
    positional_fallback,
)

_BUILTIN_TYPES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
)
_INDEX_METHODS = ("__getitem__", "__setitem__")
_NUMBER = (int, float, bool, complex)
# Schemas type dtype, layout and memory_format as `int`.
_INT_ENUMS = (torch.dtype, torch.layout, torch.memory_format)


def from_inspect(sig: inspect.Signature, torch_api: bool = True) -> Signature:
    """`torch_api`: a torch function/method (rename `self` to `input`, `out=` keyword-only)."""
    out = [Param(p.name, p.kind, p.default) for p in sig.parameters.values()]
    if not torch_api:
        return Signature(tuple(out))
    # The overrides lambdas write torch's keyword-only `out=` as a positional parameter.
    out = [Param(p.name, KEYWORD_ONLY, p.default) if p.name == "out" else p for p in out]
    if out and out[0].name == "self":
        out[0] = Param("input", out[0].kind, out[0].default)
    return Signature(tuple(out))


def from_schema(schema: torch.FunctionSchema) -> Signature:
    """Aten schemas keep their own names (`self`), the names torch.export archives use too."""
    params = []
    for a in schema.arguments:
        kind = KEYWORD_ONLY if a.kwarg_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        default = a.default_value if a.has_default_value() else REQUIRED
        params.append(Param(a.name, kind, default))
    return Signature(tuple(params))


def _typed_schema(schema: torch.FunctionSchema, strict: bool) -> Signature:
    """A schema as the Python binding sees it: `input` for `self`, loose type checks.

    `strict`: a Tensor parameter takes only tensors. Torch's parser lets numbers stand for
    tensors only after no overload took them as they are (`torch.max(x, 1)` is `max.dim`).
    """
    params = []
    for a in schema.arguments:
        kind = KEYWORD_ONLY if a.kwarg_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        default = a.default_value if a.has_default_value() else REQUIRED
        name = "input" if a.name == "self" else a.name  # as in the Python bindings
        type_name = str(a.type)
        base = (
            type_name.removeprefix("Optional[").removesuffix("]")
            if type_name.startswith("Optional[")
            else type_name
        )
        int_list = (a.N or -1) if base == "List[int]" else 0
        check = _type_check(base, strict)
        if check is not None and base != type_name:
            check = _or_none(check)
        params.append(Param(name, kind, default, check, int_list))
    return Signature(tuple(params))


def _or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _type_check(type_name: str, strict: bool) -> Callable[[Any], bool] | None:
    """A loose check of the common schema types; None (anything goes) for the rest."""
    if type_name == "Tensor":
        if strict:
            return lambda v: isinstance(v, TensorRef)
        return lambda v: isinstance(v, (TensorRef, *_NUMBER))
    if type_name == "int":
        return lambda v: is_int_like(v) or isinstance(v, _INT_ENUMS)
    if type_name == "float":
        return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if type_name == "bool":
        return lambda v: isinstance(v, bool)
    if type_name == "number":
        return lambda v: isinstance(v, _NUMBER) or (not strict and isinstance(v, TensorRef))
    if type_name == "str":
        return lambda v: isinstance(v, str)
    if type_name == "Device":
        return lambda v: isinstance(v, (torch.device, str, int))
    if type_name.startswith("List["):
        return lambda v: isinstance(v, (list, tuple))
    return None


def _aten_signatures(func: Any) -> list[Signature]:
    name = getattr(func, "__name__", None)
    if not isinstance(func, _BUILTIN_TYPES) or not name or not hasattr(torch.ops.aten, name):
        return []
    packet = getattr(torch.ops.aten, name)
    if not isinstance(packet, torch._ops.OpOverloadPacket):
        # Dunder names (`Tensor.__eq__`) resolve to the namespace object's own methods.
        return []
    schemas = [
        getattr(packet, o)._schema for o in sorted(packet.overloads(), key=lambda o: o != "default")
    ]
    return [_typed_schema(s, True) for s in schemas] + [_typed_schema(s, False) for s in schemas]


@functools.cache
def _overrides() -> dict[Callable[..., Any], Callable[..., Any]]:
    return torch.overrides.get_testing_overrides()


def _is_tensor_method(func: Any) -> bool:
    return getattr(func, "__objclass__", None) in (torch._C.TensorBase, torch.Tensor)


_DOC_LINE = re.compile(r"^(?:\.\. (?:function|method):: )?(?:Tensor\.)?(\w+)\((.*)\)\s*(?:->.*)?$")


def _doc_signatures(func: Any) -> list[Signature]:
    name = getattr(func, "__name__", None)
    doc = getattr(func, "__doc__", None)
    if not name or not isinstance(doc, str):
        return []
    sigs = []
    for line in doc.splitlines():
        m = _DOC_LINE.match(line.strip())
        if m is not None and m.group(1) == name:
            sig = _parse_params(m.group(2), method=_is_tensor_method(func))
            if sig is not None:
                sigs.append(sig)
    return sigs


def _parse_params(text: str, method: bool) -> Signature | None:
    params = [Param("input", inspect.Parameter.POSITIONAL_OR_KEYWORD)] if method else []
    kw_only = False
    for token in (t.strip() for t in _split_top_level(text)):
        if not token or token == "/":
            continue
        if token == "*":
            kw_only = True
            continue
        if token.startswith("**"):
            return None  # `f(*args, **kwargs)` says nothing useful
        if token.startswith("*"):
            name = token[1:].split(":")[0].strip()
            if not name.isidentifier() or name == "args":
                return None
            params.append(Param(name, VAR_POSITIONAL))
            kw_only = True
            continue
        head, eq, default_text = token.partition("=")
        name = head.split(":")[0].strip()
        if not name.isidentifier():
            return None
        kind = KEYWORD_ONLY if kw_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(Param(name, kind, _eval_default(default_text.strip()) if eq else REQUIRED))
    if method and len(params) > 1 and params[1].name in ("input", "self"):
        params.pop(1)
    try:  # reject impossible lines such as `arange(start=0, end, step=1)`
        inspect.Signature([inspect.Parameter(p.name, p.kind, default=p.default) for p in params])
    except (ValueError, TypeError):
        return None
    return Signature(tuple(params))


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _eval_default(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if text.startswith("torch."):
        obj: Any = torch
        for part in text.split(".")[1:]:
            obj = getattr(obj, part, None)
            if obj is None:
                return text
        return obj
    return text


@functools.cache
def _candidates(func: Any) -> tuple[Signature, ...]:
    if isinstance(func, torch._ops.OpOverload):
        # An overload called directly (`torch.ops.aten.conv2d.default(...)`, as exported and
        # PT2E graphs do): its schema names the arguments.
        return (from_schema(func._schema),)
    found = _aten_signatures(func)
    lam = _overrides().get(func)
    if lam is not None:
        found.append(from_inspect(inspect.signature(lam)))
    found.extend(_doc_signatures(func))
    if not found:
        with contextlib.suppress(TypeError, ValueError):
            found.append(from_inspect(inspect.signature(func)))
    return tuple(found)


def bind_call(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Bind a torch function / Tensor method call; positional names when nothing fits."""
    if getattr(func, "__name__", None) in _INDEX_METHODS and _is_tensor_method(func):
        return bind_index(args, kwargs)
    try:
        candidates = _candidates(func)
    except TypeError:  # unhashable callable
        candidates = ()
    for sig in candidates:
        bound = sig.bind(args, kwargs)
        if bound is not None:
            return normalize(bound)
    return normalize(positional_fallback(args, kwargs))
