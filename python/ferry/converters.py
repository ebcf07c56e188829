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
