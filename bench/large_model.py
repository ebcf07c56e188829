"""A model with more than 2 GB of weights to .tflite: conversion time and peak memory.

Run from the repository root:  .venv/bin/python bench/large_model.py [--gib 2.1] [--no-docs]

The conversion runs in a fresh subprocess whose peak RSS (ru_maxrss) is compared with the
weights' size: the target is below 1.3 x weights + 1 GiB, PyTorch's own copy of the weights
included. A second subprocess loads the file in LiteRT and checks one output against PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join("tests", "python"))
from models.linear_stack import GIB, linear_stack  # noqa: E402

WIDTH, HIDDEN = 8192, 24576


def build_model(gib: float):
    return linear_stack(gib, WIDTH, HIDDEN) + (WIDTH,)


def _convert(gib: float, path: str) -> None:
    import resource

    import torch

    import ferry

    model, weights, width = build_model(gib)
    x = torch.rand(1, width)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    ferry.pytorch_to_tflite(model, [x], path=path, validate=False, verbose=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "weights": weights,
                "seconds": seconds,
                "peak": peak,
                "baseline": baseline,
                "file": os.path.getsize(path),
            }
        )
    )


def _check(gib: float, path: str) -> None:
    import resource

    import numpy as np
    import torch

    from ferry.tflite import run_tflite

    model, _, width = build_model(gib)
    x = torch.rand(1, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    del model
    start = time.perf_counter()
    (got,) = run_tflite(path, [x.numpy()])
    seconds = time.perf_counter() - start
    diff = float(np.abs(got - expected).max())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "max_abs": diff,
                "scale": float(np.abs(expected).max()),
                "seconds": seconds,
                "peak": peak,
            }
        )
    )


def _child(mode: str, gib: float, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, f"--{mode}", path, "--gib", str(gib)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.1)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--convert", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.convert:
        return _convert(args.gib, args.convert)
    if args.check:
        return _check(args.gib, args.check)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "large.tflite")
        conv = _child("convert", args.gib, path)
        check = _child("check", args.gib, path)
    w = conv["weights"]
    target = 1.3 * w + GIB
    lines = [
        f"weights {w / GIB:.2f} GiB, file {conv['file'] / GIB:.2f} GiB",
        f"trace + convert + write: {conv['seconds']:.1f} s",
        f"peak RSS of the conversion process: {conv['peak'] / GIB:.2f} GiB "
        f"= {conv['peak'] / w:.2f} x weights (target < 1.3 x weights + 1 GiB = {target / GIB:.2f} GiB; "
        f"{conv['baseline'] / GIB:.2f} GiB after building the PyTorch model)",
        f"LiteRT (XNNPACK) load + one run: {check['seconds']:.1f} s, peak RSS {check['peak'] / GIB:.2f} GiB; "
        f"max abs diff from PyTorch {check['max_abs']:.2g} (outputs up to {check['scale']:.3g})",
    ]
    print("\n".join(lines))
    if not args.no_docs:
        from sections import write_section

        body = "\n".join(f"- {line}" for line in lines)
        write_section(
            "large-model",
            "## A model over 2 GB to .tflite\n\n"
            f"`.venv/bin/python bench/large_model.py --gib {args.gib}`: Linear layers "
            "8192 ⇄ 24576 with ReLUs, random weights, weights appended after the flatbuffer "
            "(the large-model layout) and streamed to the file.\n\n" + body,
        )


if __name__ == "__main__":
    main()
