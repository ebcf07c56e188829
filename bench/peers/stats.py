"""The arithmetic and the tables of the peer benchmark, apart from running anything.

Kept free of torch, TensorFlow and LiteRT so that the test suite checks it on canned results.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable
from typing import Any

TOOLS = {
    "ferry": "Ferry (direct writer)",
    "ferry_keras": "Ferry (Keras + TFLiteConverter)",
    "nobuco": "nobuco 0.17.0",
    "litert_torch": "LiteRT Torch 0.10.0",
    "onnx2tf": "onnx2tf 1.29.24",
    "keras_floor": "keras.applications + TFLiteConverter",
}
REFERENCE = "ferry"
WARMUP = 5  # untimed invokes per file and thread count
PER_ROUND = 5  # timed invokes of one file before the next file's turn


def summarize(times_ms: list[float]) -> dict[str, float]:
    if not times_ms:
        raise ValueError("no timings to summarize")
    return {
        "median": statistics.median(times_ms),
        "min": min(times_ms),
        "max": max(times_ms),
        "n": len(times_ms),
    }


def parse_result(stdout: str) -> dict[str, Any]:
    """The payload of the last `RESULT {json}` line a worker printed."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise ValueError("the worker printed no RESULT line")


def failure_reason(stderr: str, returncode: int) -> str:
    """What to show for a worker that died before printing its result."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or line.startswith("Killed"):
            return line[:300]
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return (lines[-1][:300] if lines else f"exit status {returncode}") or "no output"


def onnx2tf_error(printed: str) -> str:
    """onnx2tf's own ERROR lines (colour codes removed), most specific first."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", printed)
    lines = [line.strip() for line in plain.splitlines() if "ERROR" in line]
    # Its first ERROR line names the failing ONNX node, the later ones the exception.
    return " | ".join(line.split("ERROR:", 1)[-1].strip() for line in lines[:3])


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None where either is missing or the reference is not positive."""
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def latency(row: dict[str, Any], threads: int) -> float | None:
    entry = row.get(f"latency_{threads}")
    return entry["median"] if entry else None


def with_ratios(results: dict[str, dict[str, dict[str, Any]]], threads: Iterable[int]) -> None:
    """Adds, per model and tool, each thread count's median latency as a ratio to Ferry's
    direct file (`ratio_N`); None where Ferry's or the tool's file has no latency."""
    threads = list(threads)
    for rows in results.values():
        reference = rows.get(REFERENCE, {})
        for row in rows.values():
            for t in threads:
                row[f"ratio_{t}"] = ratio(latency(row, t), latency(reference, t))


def _ms(entry: dict[str, float] | None) -> str:
    if not entry:
        return "—"
    return f"{entry['median']:.2f} ({entry['min']:.2f}–{entry['max']:.2f})"


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _mb(value: float | None) -> str:
    return (
        "—" if value is None else f"{value / 1024:.2f} GB" if value >= 1024 else f"{value:.0f} MB"
    )


def _diff(row: dict[str, Any]) -> str:
    if row.get("max_abs") is None:
        return "n/a" if row.get("status") == "ok" else "—"
    return f"{row['max_abs']:.1e}"


def _size(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:.1f} MB"


def table(results: dict[str, dict[str, dict[str, Any]]], threads: list[int]) -> list[str]:
    """Markdown rows: one per model and tool, the failures with their reason."""
    latency_heads = [f"{t} thread{'s' if t > 1 else ''}: ms (min–max)" for t in threads]
    ratio_heads = [f"÷ Ferry, {t}T" for t in threads]
    head = [
        "model",
        "tool",
        "status",
        *latency_heads,
        *ratio_heads,
        "TRANSPOSE",
        "ops",
        "file",
        "conversion (+ imports)",
        "peak RSS",
        "max abs vs PyTorch",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model, rows in results.items():
        for tool, row in rows.items():
            label = TOOLS.get(tool, tool)
            if row.get("status") != "ok":
                cells = [model, label, f"FAIL: {row.get('reason', '?')}".replace("|", "\\|")]
                cells += ["—"] * (len(head) - len(cells))
                lines.append("| " + " | ".join(cells) + " |")
                continue
            convert = row.get("convert_s")
            imports = row.get("import_s")
            conversion = "—" if convert is None else f"{convert:.1f} s (+ {imports:.1f} s)"
            cells = [
                model,
                label,
                "ok",
                *[_ms(row.get(f"latency_{t}")) for t in threads],
                *[_x(row.get(f"ratio_{t}")) for t in threads],
                str(row.get("transpose", "—")),
                str(row.get("ops", "—")),
                _size(row.get("size")),
                conversion,
                _mb(row.get("peak_mb")),
                _diff(row),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def headline(results: dict[str, dict[str, dict[str, Any]]], threads: int = 1) -> list[str]:
    """One line per model: every other tool's latency as a ratio to Ferry's (> 1: Ferry is
    faster), and the failures."""
    lines = []
    for model, rows in results.items():
        parts = []
        for tool, row in rows.items():
            if tool == REFERENCE:
                continue
            name = TOOLS.get(tool, tool)
            if row.get("status") != "ok":
                parts.append(f"{name} fails")
            elif row.get(f"ratio_{threads}") is not None:
                parts.append(f"{name} {row[f'ratio_{threads}']:.2f}×")
        if rows.get(REFERENCE, {}).get("status") != "ok":
            parts.insert(0, "Ferry fails")
        lines.append(f"- {model}: " + ", ".join(parts))
    return lines
