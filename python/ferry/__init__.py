"""Ferry: PyTorch models into TensorFlow (Keras 3, SavedModel), through a C++ core.

`import ferry as nobuco` runs code written for nobuco: the names below are the same.
Names load on first use, so `import ferry` stays cheap and pulls in neither TensorFlow nor
the tracer until a conversion needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "pytorch_to_keras": "ferry.api",
    "layout_summary": "ferry.api",
    "locate_converter": "ferry.locate",
    "pytorch_to_tflite": "ferry.tflite",
    "quantization_report": "ferry.quantization",
    "suggest_keep_float": "ferry.quantization",
    "keep_float_gains": "ferry.quantization",
    "LayerError": "ferry.quantization",
    "LayoutSummary": "ferry.summary",
    "ChannelOrder": "ferry.converters",
    "ChannelOrderingStrategy": "ferry.converters",
    "converter": "ferry.converters",
    "disabled_rules": "ferry.converters",
    "unregister_converter": "ferry.converters",
    "ConversionError": "ferry.errors",
    "ConverterNotUsedWarning": "ferry.converters",
    "OptionNotUsedWarning": "ferry.errors",
    "UnsupportedOpsError": "ferry.errors",
    "ValidationError": "ferry.errors",
    "ValidationWarning": "ferry.errors",
    "force_pytorch_order": "ferry.hints",
    "force_tensorflow_order": "ferry.hints",
    "traceable": "ferry.trace",
    "shape": "ferry.sizes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ferry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
