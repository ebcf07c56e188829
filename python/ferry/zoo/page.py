"""docs/zoo.md and the summary `ferry zoo` prints, from the per-model results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ferry.zoo.run import TOLERANCE, BackendResult, ModelResult


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _status(b: BackendResult, error: str) -> str:
    return "—" if error else ("pass" if b.ok else "**FAIL**")


def _num(value: Any, fmt: str = "{}") -> str:
    return "—" if value is None else fmt.format(value)


def _total_seconds(r: ModelResult) -> float:
    return (r.keras.seconds or 0.0) + (r.tflite.seconds or 0.0)


def summary_lines(results: Sequence[ModelResult], seconds: float) -> list[str]:
    n = len(results)
    keras = sum(r.keras.ok for r in results)
    lite = sum(r.tflite.ok for r in results)
    return [
        f"Keras: {keras}/{n} pass, .tflite: {lite}/{n} pass "
        f"(max diff <= {TOLERANCE:g} x max(1, |output|) on fresh inputs); "
        f"{seconds / 60:.1f} min in all"
    ]


def render(results: Sequence[ModelResult], seconds: float) -> str:
    lines = [
        "# Model zoo",
        "",
        "Written by `ferry zoo` (see the README): each architecture is built from its library",
        "with random weights (nothing downloaded), converted to Keras and to `.tflite` (the",
        "direct writer), and run on inputs not used for tracing. A back end passes when every",
        f"output is within {TOLERANCE:g} x max(1, max |output|) of PyTorch and the file holds no",
        "custom or Flex op. Image models have TensorFlow-order (channels-last) inputs and",
        "outputs; sequence models keep PyTorch's.",
        "",
        *summary_lines(results, seconds),
        "",
        "| model | family | parameters | Keras | diff | .tflite | diff | TRANSPOSE | ops | "
        "seconds (Keras / .tflite) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        k, t = r.keras, r.tflite
        transposes = _num(t.transposes)
        if k.transposes_node_by_node is not None:
            transposes += f" (node by node: {k.transposes_node_by_node})"
        lines.append(
            f"| {r.name} | {r.family} | {_count(r.parameters)} | {_status(k, r.error)} | "
            f"{_num(k.max_diff, '{:.1e}')} | {_status(t, r.error)} | {_num(t.max_diff, '{:.1e}')} | "
            f"{transposes} | {_num(t.ops)} | {_num(k.seconds, '{:.1f}')} / "
            f"{_num(t.seconds, '{:.1f}')} |"
        )
    failures = [
        (r.name, label, r.error or b.reason)
        for r in results
        for label, b in (("Keras", r.keras), (".tflite", r.tflite))
        if not b.ok
    ]
    lines += ["", f"## Failures ({len(failures)})", ""]
    if failures:
        lines += ["| model | back end | reason |", "| --- | --- | --- |"]
        lines += [f"| {m} | {b} | {why.replace('|', '/')} |" for m, b, why in failures]
    else:
        lines.append("None.")
    slowest = sorted(results, key=_total_seconds, reverse=True)[:3]
    lines += ["", "## The slowest conversions", ""]
    for r in slowest:
        for label, b in (("Keras", r.keras), (".tflite", r.tflite)):
            if b.stages:
                stages = ", ".join(f"{name} {s:.1f} s" for name, s in b.stages)
                lines.append(f"- {r.name}, {label}: {b.seconds:.1f} s ({stages})")
    return "\n".join(lines) + "\n"
