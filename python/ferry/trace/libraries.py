"""Libraries that take another path when they know they are traced.

Hugging Face `transformers` skips work when the example's data allows it (no attention mask
is built when the example's mask has no padding) unless `is_tracing()` says a graph is being
recorded. A model with free sizes is traced twice, once on fake tensors, which transformers
sees as tracing: both traces must take the same path, and the traced one is the path that
holds for every input. So while Ferry traces a model with free sizes, transformers is told it
is traced.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


def _traced(tensor: object = None) -> bool:
    return True


@contextlib.contextmanager
def libraries_see_tracing() -> Iterator[None]:
    utils = sys.modules.get("transformers.utils.import_utils")
    original = getattr(utils, "is_tracing", None) if utils is not None else None
    if original is None:
        yield
        return
    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("transformers") and getattr(module, "is_tracing", None) is original
    ]
    try:
        for module in patched:
            module.is_tracing = _traced
        yield
    finally:
        for module in patched:
            module.is_tracing = original
