"""Per-node validation: every converted call's TF output against PyTorch's recorded one."""

from ferry.validate.compare import NodeCheck, ValidationReport, validate_keras

__all__ = ["NodeCheck", "ValidationReport", "validate_keras"]
