"""What the tracer needs to know about each callable it sees: name, binding, how to run it.

Op names are canonical: the first public name under which torch exposes the object, with
`torch.nn.functional` first (so `torch.conv2d`, the same object as `F.conv2d`, is
"torch.nn.functional.conv2d"), then `torch`, then `torch.Tensor` ("torch.Tensor.add").
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from . import signature_sources, signatures
from .locations import function_location
from .model import SourceLocation

_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
)

# Tensor methods that only read metadata or convert to Python values: never graph nodes.
_METADATA_METHODS = frozenset(
    {
        *("size", "dim", "ndimension", "numel", "nelement", "stride", "storage_offset"),
        *("is_contiguous", "is_floating_point", "is_complex", "is_signed", "element_size"),
        *("data_ptr", "untyped_storage", "storage", "get_device", "has_names", "dim_order"),
        *("is_set_to", "is_same_size", "is_inference", "is_pinned", "is_shared"),
        *("requires_grad_", "retain_grad", "register_hook", "item", "tolist"),
        *("__len__", "__format__", "__repr__", "__hash__", "__bool__", "__int__", "__float__"),
        *("__index__", "__complex__", "__array__", "__reduce_ex__", "__deepcopy__", "__dir__"),
    }
)
# Tensor properties that compute a tensor; all other property reads are metadata.
_COMPUTING_PROPERTIES = frozenset({"T", "mT", "H", "mH", "real", "imag", "data"})
# Markers torch's Python functions test before dispatching to __torch_function__ handlers.
_TORCH_FUNCTION_CHECKS = (
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
)


@dataclass
class FuncInfo:
    op: str
    skip: bool  # metadata read: run it, record nothing
    run: Callable[..., Any]  # what to call (a re-dispatch-free copy for torch's Python functions)
    nested: bool  # Python code: re-enable the function mode so calls inside it are visible
    defined: SourceLocation | None
    target: Any
    _bind: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]] | None = field(default=None)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._bind is not None:
            return self._bind(args, kwargs)
        return signature_sources.bind_call(self.target, args, kwargs)


@functools.cache
def _canonical_names() -> dict[Any, str]:
    names: dict[Any, str] = {}

    def scan(namespace: Any, prefix: str, private: bool) -> None:
        for attr in dir(namespace):
            if attr.startswith("_") != private:
                continue
            try:
                obj = getattr(namespace, attr)
            except Exception:  # some lazy attributes raise on access
                continue
            if isinstance(obj, _FUNCTION_TYPES):
                try:
                    names.setdefault(obj, f"{prefix}.{attr}")
                except TypeError:
                    continue

    scan(torch.nn.functional, "torch.nn.functional", False)
    scan(torch, "torch", False)
    scan(torch.Tensor, "torch.Tensor", False)
    scan(torch.Tensor, "torch.Tensor", True)
    for sub in ("linalg", "fft", "special"):
        scan(getattr(torch, sub), f"torch.{sub}", False)
    scan(torch._C._nn, "torch._C._nn", False)
    scan(torch._C._nn, "torch._C._nn", True)
    scan(torch, "torch", True)
    scan(torch._C._VariableFunctions, "torch._C._VariableFunctions", False)
    return names


def op_name(func: Any) -> str:
    prop = _property_name(func)
    if prop is not None:
        return f"torch.Tensor.{prop}.{func.__name__}"
    try:
        name = _canonical_names().get(func)
    except TypeError:
        name = None
    if name is not None:
        return name
    if isinstance(func, torch._ops.OpOverload):
        return aten_name(func)
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return f"{module}.{qualname}" if module else qualname


def aten_name(func: torch._ops.OpOverload) -> str:
    return f"{func.namespace}.{func._opname}.{func._overloadname}"


def _property_name(func: Any) -> str | None:
    """`x.T` reaches the mode as `Tensor.T.__get__`, a new method-wrapper each time."""
    if getattr(func, "__name__", None) not in ("__get__", "__set__", "__delete__"):
        return None
    desc = getattr(func, "__self__", None)
    if getattr(desc, "__objclass__", None) not in (torch._C.TensorBase, torch.Tensor):
        return None
    return getattr(desc, "__name__", None)


class FunctionTable:
    """FuncInfo per callable, for one trace (so the globals copies are fresh for each trace)."""

    def __init__(self) -> None:
        self._infos: dict[Any, FuncInfo] = {}
        self._globals: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def info(self, func: Any) -> FuncInfo:
        try:
            info = self._infos.get(func)
        except TypeError:  # unhashable callable
            return self._make(func)
        if info is None:
            info = self._infos[func] = self._make(func)
        return info

    def _make(self, func: Any) -> FuncInfo:
        prop = _property_name(func)
        if prop is not None:
            skip = prop not in _COMPUTING_PROPERTIES or func.__name__ != "__get__"
            return FuncInfo(op_name(func), skip, func, False, None, func)
        op = op_name(func)
        skip = getattr(func, "__name__", "") in _METADATA_METHODS and op.startswith("torch.Tensor.")
        python = isinstance(func, types.FunctionType)
        return FuncInfo(
            op=op,
            skip=skip,
            run=self._without_dispatch_check(func) if python else func,
            nested=python,
            defined=function_location(func) if python else None,
            target=func,
        )

    def _without_dispatch_check(self, func: types.FunctionType) -> Callable[..., Any]:
        """A private copy of a torch Python function whose `has_torch_function*` checks say no.

        Torch's Python functions (F.layer_norm, Tensor.__rsub__, ...) first hand the call to
        the active function mode. To see the torch calls inside them the tracer runs them with
        its mode re-enabled; the copy skips that first hand-off, which would otherwise come
        straight back to the tracer for the same call. Nothing global is modified: the copy
        has its own globals. Functions without such a check (or from outside torch) run as
        they are; the tracer guards against the re-entry instead.
        """
        if not (getattr(func, "__module__", None) or "").startswith("torch"):
            return func
        g = func.__globals__
        if not any(name in g for name in _TORCH_FUNCTION_CHECKS):
            return func
        cached = self._globals.get(id(g))
        if cached is None:
            patched = dict(g)
            for name in _TORCH_FUNCTION_CHECKS:
                if name in patched:
                    patched[name] = _never
            cached = self._globals[id(g)] = (g, patched)  # holding `g` keeps id(g) unique
        copy = types.FunctionType(
            func.__code__, cached[1], func.__name__, func.__defaults__, func.__closure__
        )
        copy.__kwdefaults__ = func.__kwdefaults__
        copy.__qualname__ = func.__qualname__
        return copy


def _never(*args: Any, **kwargs: Any) -> bool:
    return False


def traceable_info(fn: Callable[..., Any]) -> FuncInfo:
    """A @ferry.traceable function: one node named after the function itself."""
    op = f"{getattr(fn, '__module__', None)}.{getattr(fn, '__qualname__', repr(fn))}"
    info = FuncInfo(op, False, fn, True, function_location(fn), fn)
    sig = _python_signature(fn)
    if sig is not None:
        info._bind = functools.partial(_bind_or_positional, sig)
    return info


def _python_signature(fn: Callable[..., Any]) -> signatures.Signature | None:
    try:
        return signature_sources.from_inspect(inspect.signature(fn), torch_api=False)
    except (TypeError, ValueError):
        return None


def _bind_or_positional(
    sig: signatures.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = sig.bind(args, kwargs)
    if bound is None:
        bound = signatures.positional_fallback(args, kwargs)
    return signatures.normalize(bound, sizes=False)
