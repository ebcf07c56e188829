"""Stages of a conversion, announced as they start and timed.

Lines go to stderr so that the conversion tree (stdout) stays clean to redirect. `verbose`
is the user's setting: True prints stages, the tree and the summary; "failures" prints the
stages and only the failing part of the tree; False prints nothing.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

Verbosity = bool | str
# Below this many checks the bar would flash by: not worth a line.
_BAR_MINIMUM = 200


def check_verbose(verbose: Any) -> None:
    if not (verbose is True or verbose is False or verbose == "failures"):
        raise ValueError(f"ferry: verbose must be True, False or 'failures', got {verbose!r}")


class Progress:
    def __init__(self, verbose: Verbosity, what: str, stream: Any = None) -> None:
        self.enabled = verbose is not False
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.seconds: list[tuple[str, float]] = []
        self._started = time.perf_counter()

    def say(self, text: str) -> None:
        if self.enabled:
            print(f"ferry: {text}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        self.say(f"{name}{' ' + detail if detail else ''}…")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.append((name, time.perf_counter() - start))

    def bar(self, items: Iterable[T], total: int, label: str) -> Iterable[T]:
        """`items`, with a progress bar on the stream when there are many of them."""
        if not self.enabled or total < _BAR_MINIMUM:
            return items
        from tqdm import tqdm

        return tqdm(
            items, total=total, desc=f"ferry: {label}", unit="call", leave=False, file=self.stream
        )

    def total(self) -> float:
        return time.perf_counter() - self._started
