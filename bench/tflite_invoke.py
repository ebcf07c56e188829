"""Times LiteRT invokes of one .tflite file; used by bench/tflite_latency.py.

    python bench/tflite_invoke.py MODEL.tflite INPUT.npy OUTPUT.npy WARMUP RUNS

One thread, the interpreter's default delegates (XNNPACK, applied in allocate_tensors).
WARMUP untimed invokes (the first one is reported on its own), then RUNS invokes timed one
by one on the same input. Prints one line `RESULT {json}` and saves the output for comparison.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main(model: str, input_path: str, output_path: str, warmup: int, runs: int) -> None:
    x = np.load(input_path)
    start = time.perf_counter()
    interpreter = Interpreter(model_path=model, num_threads=1)
    interpreter.allocate_tensors()
    loaded = time.perf_counter()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    if tuple(inp["shape"]) != x.shape:
        raise SystemExit(f"{model}: input shape {tuple(inp['shape'])}, expected {x.shape}")
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    first = time.perf_counter()
    interpreter.invoke()
    first_s = time.perf_counter() - first
    for _ in range(warmup - 1):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - t) / 1e6)
    np.save(output_path, interpreter.get_tensor(out["index"]))
    p10, p50, p90 = np.percentile(times, [10, 50, 90])
    print(
        "RESULT "
        + json.dumps(
            {
                "load_s": loaded - start,
                "first_ms": first_s * 1000,
                "median_ms": float(p50),
                "p10_ms": float(p10),
                "p90_ms": float(p90),
                "runs": runs,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
