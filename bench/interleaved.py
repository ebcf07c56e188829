"""Timing several LiteRT interpreters against each other on a shared, noisy machine: each
round takes the median of some invokes per interpreter, the order alternating from round to
round, so that drift and other work hit every file alike."""

from __future__ import annotations

import statistics
import time
from typing import Any

WARMUP = 5


def median_ms(interpreter: Any, invokes: int) -> float:
    """The median of `invokes` timed invokes, in milliseconds."""
    times = []
    for _ in range(invokes):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def interleave(interpreters: dict[str, Any], rounds: int, invokes: int) -> dict[str, list[float]]:
    """Per interpreter, one median per round, after WARMUP untimed invokes each; even rounds
    visit the interpreters in order, odd rounds in reverse."""
    for interpreter in interpreters.values():
        for _ in range(WARMUP):
            interpreter.invoke()
    medians: dict[str, list[float]] = {name: [] for name in interpreters}
    names = list(interpreters)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            medians[name].append(median_ms(interpreters[name], invokes))
    return medians
