"""`ferry zoo`: converts real architectures to Keras and to .tflite, checks them on fresh
inputs, and writes docs/zoo.md.

Every model converts in a process of its own (a crash or a memory peak in one cannot touch
the others, and each conversion's time is its own); the parent collects one JSON line per
model. A back end passes when the conversion succeeds and every output agrees with PyTorch
on inputs not used for tracing within 1e-4 x max(1, max |output|).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TOLERANCE = 1e-4
_MARKER = "ZOO-RESULT "


@dataclass
class BackendResult:
    ok: bool = False
    max_diff: float | None = None  # max abs difference, relative to max(1, max |output|)
    seconds: float | None = None  # conversion wall time, validation included
    stages: list[tuple[str, float]] = field(default_factory=list)
    transposes: int | None = None
    transposes_node_by_node: int | None = None  # the Keras path's solver statistics
    ops: int | None = None  # .tflite: operators in the file
    foreign_ops: list[str] = field(default_factory=list)  # custom or Flex ops (never wanted)
    reason: str = ""


@dataclass
class ModelResult:
    name: str
    family: str
    parameters: int = 0
    keras: BackendResult = field(default_factory=BackendResult)
    tflite: BackendResult = field(default_factory=BackendResult)
    error: str = ""  # the model itself could not be built or run
    wall: float = 0.0  # seconds its process ran (building, both conversions, checks)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[0] if lines else ""
    if head.endswith(":") and len(lines) > 1:  # "conversion failed:" then the first reason
        head += " " + lines[1]
    return f"{type(error).__name__}: {head[:400]}"


def _relative_diff(got: Sequence[Any], expected: Sequence[Any]) -> float:
    import numpy as np

    if len(got) != len(expected):
        raise AssertionError(f"{len(got)} outputs, PyTorch has {len(expected)}")
    worst = 0.0
    for g, e in zip(got, expected):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            raise AssertionError(f"output shape {g.shape}, PyTorch has {e.shape}")
        scale = max(1.0, float(np.abs(e).max(initial=0.0)))
        worst = max(worst, float(np.abs(g - e).max(initial=0.0)) / scale)
    return worst


def convert_one(name: str) -> ModelResult:
    """Builds one zoo model and converts it on both back ends (in this process)."""
    import numpy as np
    import torch

    import ferry
    from ferry import _core
    from ferry.tflite import run_tflite
    from ferry.zoo.models import find

    (entry,) = find([name])
    result = ModelResult(entry.name, entry.family)
    try:
        model = entry.build()
        inputs = entry.inputs(torch.Generator().manual_seed(0))
        fresh = entry.inputs(torch.Generator().manual_seed(1))
        result.parameters = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            out = model(*fresh)
    except Exception as e:
        result.error = _first_line(e)
        return result
    outs = list(out) if isinstance(out, (tuple, list)) else [out]

    def tf_order(a: Any) -> Any:
        a = np.asarray(a)
        return np.moveaxis(a, 1, -1) if entry.image and a.ndim >= 3 else a

    expected = [tf_order(o.detach().numpy()) for o in outs]
    feed = [tf_order(x.numpy()) for x in fresh]
    order = ferry.ChannelOrder.TENSORFLOW if entry.image else ferry.ChannelOrder.PYTORCH
    options = dict(inputs_channel_order=order, outputs_channel_order=order, verbose=False)

    keras = result.keras
    start = time.perf_counter()
    try:
        km, report = ferry.pytorch_to_keras(model, inputs, return_report=True, **options)
        keras.seconds = time.perf_counter() - start
        keras.stages = report.stages
        keras.transposes = km.ferry_layout.transposes
        keras.transposes_node_by_node = km.ferry_layout.node_by_node_transposes
        got = km(feed if len(feed) > 1 else feed[0])
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        keras.max_diff = _relative_diff([np.asarray(g) for g in got], expected)
        del km, got  # a large Keras model should not stay alive through the .tflite run
        keras.ok = keras.max_diff <= TOLERANCE
        if not keras.ok:
            keras.reason = f"differs from PyTorch by {keras.max_diff:.2g} on fresh inputs"
    except Exception as e:
        keras.seconds = keras.seconds or time.perf_counter() - start
        keras.reason = _first_line(e)

    lite = result.tflite
    start = time.perf_counter()
    try:
        data, report = ferry.pytorch_to_tflite(model, inputs, return_report=True, **options)
        lite.seconds = time.perf_counter() - start
        lite.stages = report.stages
        ops = [op[0] for op in _core.read_tflite(data)["ops"]]
        lite.ops = len(ops)
        lite.transposes = ops.count("TRANSPOSE")
        lite.foreign_ops = sorted(
            {op for op in ops if op in ("CUSTOM", "DELEGATE") or "Flex" in op}
        )
        got = run_tflite(data, feed)
        lite.max_diff = _relative_diff(got, expected)
        lite.ok = lite.max_diff <= TOLERANCE and not lite.foreign_ops
        if lite.foreign_ops:
            lite.reason = f"custom or Flex ops: {', '.join(lite.foreign_ops)}"
        elif not lite.ok:
            lite.reason = f"differs from PyTorch by {lite.max_diff:.2g} on fresh inputs"
    except Exception as e:
        lite.seconds = lite.seconds or time.perf_counter() - start
        lite.reason = _first_line(e)
    return result


def _worker(name: str) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        result = convert_one(name)
    except Exception as e:  # a bug in the harness itself: say so, with the trace
        traceback.print_exc()
        result = ModelResult(name, "?", error=_first_line(e))
    print(_MARKER + json.dumps(asdict(result)), flush=True)
    return 0


def _run_in_child(name: str, timeout: float) -> ModelResult:
    start = time.perf_counter()
    result = _child(name, timeout)
    result.wall = time.perf_counter() - start
    return result


def _from_json(raw: dict[str, Any]) -> ModelResult:
    raw = dict(raw)
    raw["keras"] = BackendResult(**raw["keras"])
    raw["tflite"] = BackendResult(**raw["tflite"])
    return ModelResult(**raw)


def _child(name: str, timeout: float) -> ModelResult:
    cmd = [sys.executable, "-m", "ferry.zoo.run", "--worker", name]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ModelResult(name, "?", error=f"timed out after {timeout:.0f} s")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            return _from_json(json.loads(line[len(_MARKER) :]))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return ModelResult(name, "?", error=f"the process ended with code {proc.returncode}: {tail}")


def main(argv: Sequence[str] | None = None) -> int:
    from ferry.zoo.models import find, zoo
    from ferry.zoo.page import render, summary_lines

    parser = argparse.ArgumentParser(prog="ferry zoo", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="only these (default: the whole list)")
    parser.add_argument("--out", default="docs/zoo.md", help="the page to write ('-': none)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="re-run only the named models, keeping the others' results from the page's JSON",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per model")
    parser.add_argument("--list", action="store_true", help="list the models and stop")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        return _worker(opts.worker)
    entries = find(opts.models) if opts.models else zoo()
    if opts.list:
        for e in entries:
            print(f"{e.family:15s} {e.name}")
        return 0
    data = os.path.splitext(opts.out)[0] + ".json"  # every result, for --update
    kept: dict[str, ModelResult] = {}
    if opts.update:
        if not opts.models or not os.path.exists(data):
            parser.error("--update needs model names and the JSON of an earlier run")
        with open(data) as f:
            kept = {r["name"]: _from_json(r) for r in json.load(f)}
    results: list[ModelResult] = []
    for i, entry in enumerate(entries, 1):
        print(f"[{i}/{len(entries)}] {entry.name} …", end="", flush=True)
        r = _run_in_child(entry.name, opts.timeout)
        r.family = entry.family
        results.append(r)
        marks = " ".join(
            f"{label} {'ok' if b.ok else 'FAIL'}"
            for label, b in (("keras", r.keras), ("tflite", r.tflite))
        )
        print(f" {r.error or marks}", flush=True)
    if opts.update:  # the page's order, with the re-run models replaced
        fresh = {r.name: r for r in results}
        results = [fresh.get(m.name, kept.get(m.name)) for m in zoo()]
        results = [r for r in results if r is not None]
    total = sum(r.wall for r in results)
    print("\n".join(summary_lines(results, total)))
    if opts.out != "-":
        with open(opts.out, "w") as f:
            f.write(render(results, total))
        with open(data, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=1)
            f.write("\n")
        print(f"wrote {opts.out} and {data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
