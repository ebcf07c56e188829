"""Ferry's exceptions: each says what went wrong and where, in the user's terms."""

from __future__ import annotations


class ConversionError(RuntimeError):
    """The model was traced, but a part of it could not be converted."""


class UnsupportedOpsError(ConversionError, NotImplementedError):
    """Calls with no converter at any level (module, function, aten op).

    `ops` maps each unsupported op name to the places it was invoked.
    """

    def __init__(self, message: str, ops: dict[str, list[str]]):
        super().__init__(message)
        self.ops = ops


class ValidationError(ConversionError):
    """The converted model's outputs differ from PyTorch's beyond the tolerance."""
