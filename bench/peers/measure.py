"""Measures every converter's file of one model in LiteRT, in one process, interleaved.

    python bench/peers/measure.py MODEL RUN_DIR --tools a,b,c [--runs 30] [--threads 1,2]

Runs in the project's environment, so every file is timed by the same LiteRT (XNNPACK, the
interpreter's default delegate). For each thread count all files are loaded and warmed up
(5 invokes), then timed in rounds that visit the files in turn, the order rotating each round,
so that the machine's drift hits every file alike. Also: ops and TRANSPOSE in each file, its
size, and its largest difference from PyTorch on a fresh input (not the tracing one).
Prints one line `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models  # noqa: E402
from stats import PER_ROUND, WARMUP, summarize  # noqa: E402

from ferry import _core  # noqa: E402


def op_counts(path: Path) -> Counter[str]:
    return Counter(op[0] for op in _core.read_tflite(path.read_bytes())["ops"])


def feed(interpreter: Interpreter, xs: list[np.ndarray]) -> None:
    """Sets the inputs, channels-last where the file takes them so."""
    details = interpreter.get_input_details()
    if len(details) != len(xs):
        raise ValueError(f"the file has {len(details)} inputs, the model {len(xs)}")
    for detail, x in zip(details, xs, strict=True):
        shape = tuple(detail["shape"])
        # Channels-last: image models in Ferry, nobuco and onnx2tf; onnx2tf also takes any
        # rank-3 input as [N, C, L] and moves it to [N, L, C].
        if shape != x.shape and x.ndim >= 3 and shape == tuple(np.moveaxis(x, 1, -1).shape):
            x = np.moveaxis(x, 1, -1)
        if shape != x.shape:
            raise ValueError(f"input shape {shape} fits neither {x.shape} nor channels-last")
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(x).astype(detail["dtype"]))


def result_of(interpreter: Interpreter, expected: np.ndarray) -> np.ndarray:
    """The output that holds the model's result, in PyTorch's order."""
    for detail in interpreter.get_output_details():
        y = interpreter.get_tensor(detail["index"])
        if y.shape == expected.shape:
            return y
        if y.ndim >= 3 and np.moveaxis(y, -1, 1).shape == expected.shape:
            return np.moveaxis(y, -1, 1)
    shapes = [tuple(d["shape"]) for d in interpreter.get_output_details()]
    raise ValueError(f"no output of shape {expected.shape} (the file's: {shapes})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    run: Path = args.run_dir
    name = args.model
    tools = args.tools.split(",")
    xs = list(np.load(run / "inputs" / f"{name}.check.npz").values())
    with torch.no_grad():
        model = models.load(name, run / "weights" / f"{name}.pt")
        expected = model(*[torch.from_numpy(x) for x in xs]).numpy()
    out: dict[str, Any] = {"model": name, "tools": {}}
    files = {t: run / "files" / f"{name}.{t}.tflite" for t in tools}
    for tool, path in list(files.items()):
        entry: dict[str, Any] = {"size": path.stat().st_size}
        counts = op_counts(path)
        entry["ops"] = sum(counts.values())
        entry["transpose"] = counts.get("TRANSPOSE", 0)
        entry["op_kinds"] = dict(counts.most_common())
        entry["ref_max"] = float(np.max(np.abs(expected)))
        out["tools"][tool] = entry
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()
            feed(interpreter, xs)
            interpreter.invoke()
            if tool == "keras_floor":
                entry["max_abs"] = None  # another implementation of the architecture
            else:
                got = result_of(interpreter, expected).astype(np.float64)
                entry["max_abs"] = float(np.max(np.abs(got - expected)))
        except (ValueError, RuntimeError) as error:
            # This file cannot run on the model's input: its row says why, the others are timed.
            entry.update(status="FAIL", reason=f"in LiteRT: {error}"[:300])
            del files[tool]
    tools = list(files)
    rounds = max(1, -(-args.runs // PER_ROUND))
    for threads in [int(t) for t in args.threads.split(",")]:
        interpreters = {}
        for tool, path in files.items():
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
            feed(interpreter, xs)
            for _ in range(WARMUP):
                interpreter.invoke()
            interpreters[tool] = interpreter
        times: dict[str, list[float]] = {tool: [] for tool in tools}
        for r in range(rounds):
            order = tools[r % len(tools) :] + tools[: r % len(tools)]
            for tool in order:
                interpreter = interpreters[tool]
                for _ in range(PER_ROUND):
                    start = time.perf_counter_ns()
                    interpreter.invoke()
                    times[tool].append((time.perf_counter_ns() - start) / 1e6)
        for tool in tools:
            out["tools"][tool][f"latency_{threads}"] = summarize(times[tool])
        del interpreters
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
