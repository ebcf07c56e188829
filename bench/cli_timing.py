"""How soon `ferry convert` says something, and how long it takes, imports included.

Runs `ferry convert bench.cli_models:resnet50 --input 1x3x224x224 --out <f>` for .keras and
.tflite, alternating, in fresh processes, and reads stderr as it comes: the time to the first
`ferry:` line (the first sign of life a user sees) and to exit.

    python bench/cli_timing.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one(out: str) -> tuple[float, float]:
    command = [sys.executable, "-m", "ferry.cli", "convert", "bench.cli_models:resnet50"]
    command += ["--input", "1x3x224x224", "--out", out]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    first = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if first is None and line.startswith(b"ferry: "):
            first = time.perf_counter() - start
    if proc.wait() != 0:
        raise SystemExit(f"ferry convert failed for {out}")
    return first if first is not None else float("nan"), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {".keras": [], ".tflite": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opts.rounds):
            for suffix in results:  # alternating, so drift hits both alike
                results[suffix].append(one(os.path.join(tmp, "resnet50" + suffix)))
    print("| output | first line (s) | total (s) |")
    print("| --- | --- | --- |")
    for suffix, runs in results.items():
        first = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        print(f"| ResNet-50 {suffix} | {first:.2f} | {total:.1f} |")


if __name__ == "__main__":
    main()
