"""Ferry's exceptions: each says what went wrong and where, in the user's terms."""

from __future__ import annotations

from typing import Any


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
    """The converted model's outputs differ from PyTorch's beyond the tolerance.

    `report` is the ValidationReport (its `first_divergent` call is where to look first);
    `model` is what the conversion produced (the Keras model; None where nothing is kept)."""

    def __init__(self, message: str, report: Any = None, model: Any = None):
        super().__init__(message)
        self.report = report
        self.model = model


class OptionNotUsedWarning(UserWarning):
    """A conversion option (or part of it) had no effect, or not everywhere it was asked for:
    the message names the option, the layer and why."""


class ValidationWarning(UserWarning):
    """Converted calls differ from PyTorch beyond tolerance, and the user asked to go on."""
