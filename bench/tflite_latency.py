"""Two routes to .tflite compared: Ferry's own writer against Keras + TensorFlow's converter.

Run from the repository root:
    .venv/bin/python bench/tflite_latency.py [--models resnet50,mobilenet_v3_large]
                                             [--runs 30] [--no-docs]

Routes, both with TensorFlow channel order for inputs and outputs:
  direct            ferry.pytorch_to_tflite(..., validate=False)
  keras+tfconverter ferry.pytorch_to_keras(..., full_validation=False) -> Model.export
                    (SavedModel) -> tf.lite.TFLiteConverter.from_saved_model -> file
Each conversion runs in a fresh process (bench/tflite_route.py), timed from trace to file
written, after all imports; each file is timed in LiteRT in a fresh process
(bench/tflite_invoke.py). Updates the "tflite-latency" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import numpy as np
from machine import cpu_name
from sections import write_section

from ferry import _core

ROUTES = {"direct": "direct", "keras": "keras+tfconverter"}
WARMUP = 5
ROUNDS = 3  # latency measurements per file, alternating between the routes


def run_worker(args: list[str]) -> tuple[dict[str, Any], str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )
    found = re.search(r"^RESULT (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or not found:
        raise RuntimeError(
            f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return json.loads(found.group(1)), proc.stderr


def pytorch_output(name: str, x_nhwc: np.ndarray) -> np.ndarray:
    import torch

    sys.path.insert(0, os.path.join("tests", "python"))
    from models.torchvision_import import random_model

    with torch.no_grad():
        y = random_model(name)(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy()))
    return y.numpy()


def op_counts(path: str) -> Counter[str]:
    with open(path, "rb") as f:
        return Counter(op[0] for op in _core.read_tflite(f.read())["ops"])


def measure(name: str, runs: int, tmp: str) -> dict[str, Any]:
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    x_path = os.path.join(tmp, f"{name}.input.npy")
    np.save(x_path, x)
    expected = pytorch_output(name, x)
    out: dict[str, Any] = {"routes": {}}
    converted = {}
    for route in ROUTES:
        path = os.path.join(tmp, f"{name}.{route}.tflite")
        converted[route], _ = run_worker(["bench/tflite_route.py", route, name, path])
    # Latency rounds alternate the two files: a slow phase of the machine (another process,
    # a cold cache after a conversion) then hits both, not whichever ran first.
    rounds: dict[str, list[tuple[dict[str, Any], str]]] = {route: [] for route in ROUTES}
    for _ in range(ROUNDS):
        for route in ROUTES:
            path = os.path.join(tmp, f"{name}.{route}.tflite")
            y_path = os.path.join(tmp, f"{name}.{route}.output.npy")
            rounds[route].append(
                run_worker(["bench/tflite_invoke.py", path, x_path, y_path, str(WARMUP), str(runs)])
            )
    for route in ROUTES:
        path = os.path.join(tmp, f"{name}.{route}.tflite")
        by_median = sorted(rounds[route], key=lambda r: r[0]["median_ms"])
        lat, log = by_median[len(by_median) // 2]  # the round with the median median
        lat = {**lat, "round_medians_ms": [r[0]["median_ms"] for r in rounds[route]]}
        y = np.load(os.path.join(tmp, f"{name}.{route}.output.npy"))
        conv = converted[route]
        out["routes"][route] = {
            **conv,
            **lat,
            "xnnpack": "XNNPACK delegate" in log,
            "ops": op_counts(path),
            "output": y,
            "vs_pytorch": float(np.max(np.abs(y - expected))),
        }
        print(f"{name} {route}: {json.dumps({**conv, **lat})}", flush=True)
    direct, keras = (out["routes"][r]["output"] for r in ROUTES)
    out["between_routes"] = float(np.max(np.abs(direct - keras)))
    out["scale"] = float(np.max(np.abs(expected)))
    return out


def tflite_convert_line() -> str:
    """bench/tflite_convert.py's own line (repeated conversions in one warm process)."""
    proc = subprocess.run(
        [sys.executable, "bench/tflite_convert.py"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1]}"
    return proc.stdout.strip().splitlines()[-1]


def op_difference(ops: dict[str, Counter[str]]) -> str:
    direct, keras = ops["direct"], ops["keras"]
    differing = sorted(op for op in direct.keys() | keras.keys() if direct[op] != keras[op])
    if not differing:
        return "same op counts"
    return ", ".join(f"{op} {direct[op]} / {keras[op]}" for op in differing)


def busy_note(load_start: float, load_end: float, cores: int) -> list[str]:
    """Other processes skew every number here; the load average says whether they did."""
    if max(load_start, load_end) <= cores:
        return []
    return [
        "",
        f"The machine was busy (load average above its {cores} cores): this is a trial run, its",
        "times and latencies are inflated and noisy and only large differences mean anything;",
        "rerun on a quiet machine.",
    ]


def render(
    results: dict[str, dict[str, Any]], command: str, runs: int, extra: str, load_start: float
) -> str:
    rows = []
    notes = []
    for name, res in results.items():
        for route, label in ROUTES.items():
            r = res["routes"][route]
            ops = r["ops"]
            rows.append(
                f"| {name} | {label} | {r['stages']['total']:.2f} s | "
                f"{r['peak_mb']:.0f} MB ({r['baseline_mb']:.0f} MB after imports) | "
                f"{r['median_ms']:.1f} ms ({r['p10_ms']:.1f}–{r['p90_ms']:.1f}) | "
                f"{r['load_s'] * 1000:.0f} ms / {r['first_ms']:.0f} ms | {r['size'] / 1e6:.1f} MB | "
                f"{sum(ops.values())} | "
                f"{ops['TRANSPOSE']} | {r['vs_pytorch']:.2g} |"
            )
        k = res["routes"]["keras"]
        s = k["stages"]
        notes.append(
            f"- {name}: outputs of the two routes differ by at most {res['between_routes']:.2g} "
            f"(largest logit {res['scale']:.3g}). Ops whose counts differ (direct / "
            f"keras+tfconverter): {op_difference({r: res['routes'][r]['ops'] for r in ROUTES})}. "
            f"keras+tfconverter stages: pytorch_to_keras {s['pytorch_to_keras']:.2f} s, "
            f"export {s['export']:.2f} s, TFLiteConverter {s['tfconverter']:.2f} s; "
            f"converter op sets: {k['converter']}. Latency medians per round (direct / "
            f"keras+tfconverter): "
            + ", ".join(
                f"{a:.1f} / {b:.1f} ms"
                for a, b in zip(*(res["routes"][r]["round_medians_ms"] for r in ROUTES))
            )
            + "."
        )
        if k["builtins_error"]:
            notes.append(f"  Builtins only failed: `{k['builtins_error']}`")
        missing = [ROUTES[r] for r in ROUTES if not res["routes"][r]["xnnpack"]]
        if missing:
            notes.append(f"  No XNNPACK delegate was reported for: {', '.join(missing)}.")
    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}"
        for pkg in ("torch", "tensorflow", "ai-edge-litert")
    )
    load_end = os.getloadavg()[0]
    load = f"1-minute load average {load_start:.1f} at the start, {load_end:.1f} at the end"
    return "\n".join(
        [
            "## Direct .tflite against Keras + TFLiteConverter",
            "",
            f"`{command}` on {cpu_name()} ({os.cpu_count()} cores, {load}); {versions}.",
            "",
            "Random weights (random batch-norm statistics), input 1x3x224x224 traced, TensorFlow",
            "channel order for inputs and outputs. *direct*: `ferry.pytorch_to_tflite(...,",
            "validate=False)`. *keras+tfconverter*: `ferry.pytorch_to_keras(...,",
            "full_validation=False, verbose=False)`, which still runs the Keras model once to",
            "compare its outputs with PyTorch (no option turns that off), then `Model.export`",
            "(SavedModel) and `tf.lite.TFLiteConverter.from_saved_model(...).convert()` with",
            "default settings (float32, no optimizations). Conversion time is from the trace to",
            "the file written, in a fresh process per route after all imports (and the random",
            "model) are done; peak RSS is that process's `ru_maxrss`, with its value after imports",
            "in brackets. Latency: LiteRT `Interpreter(num_threads=1)` with its default delegates",
            f"(XNNPACK), {WARMUP} warm-up invokes, then median (p10–p90) of {runs} timed `invoke()` calls on",
            f"one fixed random input, in a fresh process per file; {ROUNDS} such rounds alternate",
            "between the two files and the table shows the round with the median median (all",
            "round medians in the notes). *Load* is `Interpreter(...)` plus",
            "`allocate_tensors()` (XNNPACK is applied there); *first* is the first warm-up",
            "invoke. Ops and TRANSPOSE are counted in the files (`ferry._core.read_tflite`); the",
            "PyTorch reference runs the same input in NCHW.",
            "",
            "| model | route | conversion | peak RSS | LiteRT latency | load / first invoke | file | ops | TRANSPOSE | max abs vs PyTorch |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            *notes,
            "",
            "`python bench/tflite_convert.py` (direct route, three conversions in one process,",
            f"target < 2 s after imports): {extra}",
            *busy_note(load_start, load_end, os.cpu_count() or 1),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v3_large")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    opts = parser.parse_args()
    load_start = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.models.split(","):
            results[name] = measure(name, opts.runs, tmp)
    extra = tflite_convert_line()
    command = " ".join(["python bench/tflite_latency.py", *sys.argv[1:]])
    text = render(results, command, opts.runs, extra, load_start)
    print(text)
    if not opts.no_docs:
        write_section("tflite-latency", text)


if __name__ == "__main__":
    main()
