"""User converters and the vocabulary of channel order.

A converter takes the PyTorch call's own signature and returns a TensorFlow callable (or a
Keras layer) that takes the same arguments with TF tensors in place of torch tensors. It wins
over any built-in rule for the same op.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


class ChannelOrder(enum.Enum):
    TENSORFLOW = "tensorflow"  # channels last: B H W C
    PYTORCH = "pytorch"  # channels first: B C H W


class ChannelOrderingStrategy(enum.Enum):
    FORCE_TENSORFLOW_ORDER = "force_tensorflow_order"
    FORCE_PYTORCH_ORDER = "force_pytorch_order"
    MINIMUM_TRANSPOSITIONS = "minimum_transpositions"
    MANUAL = "manual"


@dataclass(frozen=True)
class UserConverter:
    op: Any  # the function, method, or module class it converts
    func: Callable[..., Any]
    strategy: ChannelOrderingStrategy
    reusable: bool

    def location(self) -> str:
        try:
            file = inspect.getsourcefile(self.func)
            line = inspect.getsourcelines(self.func)[1]
            return f"{file}:{line}"
        except (OSError, TypeError):
            return getattr(self.func, "__qualname__", repr(self.func))


_registry: dict[Any, UserConverter] = {}
_disabled_rules: list[Any] = []


def converter(
    *ops: Any,
    channel_ordering_strategy: ChannelOrderingStrategy = ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS,
    reusable: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated function as the converter for each of `ops`.

    `reusable=True` lets one converted layer serve every call of the same module instance;
    with False the converter is called again for each call.
    """
    if not ops:
        raise TypeError(
            "ferry.converter needs at least one op (a function, method or module class)"
        )
    if not isinstance(channel_ordering_strategy, ChannelOrderingStrategy):
        raise TypeError(
            "channel_ordering_strategy must be a ferry.ChannelOrderingStrategy, got "
            f"{channel_ordering_strategy!r}"
        )

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            _registry[op] = UserConverter(op, func, channel_ordering_strategy, reusable)
        return func

    return register


def find_user_converter(target: Any) -> UserConverter | None:
    """The converter for a traced call's target: the function itself, or a module's class."""
    try:
        found = _registry.get(target)
    except TypeError:  # unhashable target
        found = None
    if found is not None:
        return found
    cls = type(target)
    for klass in getattr(cls, "__mro__", ()):
        if klass in _registry and klass is not object:
            return _registry[klass]
    return None


class ConverterNotUsedWarning(UserWarning):
    """A user converter matched no call although a call of the same name was traced."""


def registered_name(op: Any) -> str:
    """The name the tracer would give a call of `op` (a class: its module path)."""
    from ferry.trace.functions import op_name

    if isinstance(op, type):
        return f"{op.__module__}.{op.__qualname__}"
    if isinstance(op, str):
        return op
    return op_name(op)


def unmatched_converters(
    matched: set[int], traced_names: dict[str, str]
) -> list[tuple[UserConverter, str]]:
    """Registered converters that matched no call while a call of the same name was traced
    (`traced_names`: op name -> where it was invoked): (converter, invoked at).

    The usual causes: `@ferry.converter` given the undecorated function while the model calls
    the `@traceable` one (decorators in the wrong order), or a class defined again (a module
    reloaded, a notebook cell re-run) after its converter was registered for the old one."""
    out = []
    for user in {id(u): u for u in _registry.values()}.values():
        if id(user) in matched:
            continue
        name = registered_name(user.op)
        if name in traced_names:
            out.append((user, traced_names[name]))
    return out


def unregister_converter(*ops: Any) -> None:
    for op in ops:
        _registry.pop(op, None)


@contextlib.contextmanager
def disabled_rules(*ops: Any) -> Iterator[None]:
    """Converts as if Ferry had no built-in rule for `ops` (functions or op-name strings).

    Useful to check a converter of your own against the built-in one, or to see which calls a
    model would need converters for.
    """
    _disabled_rules.extend(ops)
    try:
        yield
    finally:
        for op in ops:
            _disabled_rules.remove(op)


def disabled_rule_names() -> list[str]:
    from ferry.trace.functions import op_name

    return [op if isinstance(op, str) else op_name(op) for op in _disabled_rules]
