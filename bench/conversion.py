"""Conversion wall time and peak memory, imports included, measured with /usr/bin/time -v.

Run from the repository root:  .venv/bin/python bench/conversion.py [--repeat 3]
Writes docs/benchmarks.md (the conversion table) and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys

from sections import write_section

MODELS = {"resnet50": (20.0, 3.0), "mobilenet_v3_large": (12.0, 3.0)}  # targets: seconds, GB


def run_once(model: str) -> dict[str, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "bench/convert_one.py", model],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{model} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    wall = re.search(
        r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    result = re.search(r"RESULT .*imports_s=([\d.]+) convert_s=([\d.]+)", proc.stdout)
    hours = float(wall.group(1) or 0)
    seconds = hours * 3600 + float(wall.group(2)) * 60 + float(wall.group(3))
    return {
        "wall_s": seconds,
        "peak_gb": int(rss.group(1)) / 1024 / 1024,
        "imports_s": float(result.group(1)),
        "convert_s": float(result.group(2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    rows = []
    for model, (time_target, mem_target) in MODELS.items():
        runs = [run_once(model) for _ in range(opts.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        rows.append(
            f"| {model} | {med['wall_s']:.1f} s (target < {time_target:.0f} s) | {med['imports_s']:.1f} s | "
            f"{med['convert_s']:.1f} s | {med['peak_gb']:.2f} GB (target < {mem_target:.0f} GB) |"
        )
    table = "\n".join(
        [
            "| model | wall time, all imports included | torch + Ferry imports | trace, convert, TensorFlow import, Keras build, validation | peak RSS |",
            "| --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    text = (
        "## Conversion to Keras with full validation\n\n"
        f"`python bench/conversion.py`: median of {opts.repeat} runs on {os.cpu_count()} cores "
        f"({platform.machine()}), input 1x3x224x224, random weights, `/usr/bin/time -v` around "
        "a fresh process per run.\n\n"
        f"{table}\n"
    )
    write_section("conversion", text)
    print(text)


if __name__ == "__main__":
    main()
