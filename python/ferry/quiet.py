"""Silencing native libraries' start-up chatter.

TensorFlow (CUDA probing on machines without a GPU, oneDNN notices) and LiteRT (delegate
creation) write through their C++ logging straight to file descriptor 2, whatever
TF_CPP_MIN_LOG_LEVEL says in recent releases, and bury the conversion tree.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Hides what is written to file descriptor 2 inside the block (Python exceptions raised
    in it still reach the caller)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
