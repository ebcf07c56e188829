"""Trace + convert + write MobileNetV3-Large to .tflite without validation, after imports.

Run from the repository root:  .venv/bin/python bench/tflite_convert.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join("tests", "python"))
from models.torchvision_import import random_model  # noqa: E402

import ferry  # noqa: E402


def main() -> None:
    model = random_model("mobilenet_v3_large")
    x = [torch.rand(1, 3, 224, 224)]
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for i in range(3):
            start = time.perf_counter()
            data = ferry.pytorch_to_tflite(
                model, x, path=os.path.join(tmp, f"m{i}.tflite"), validate=False
            )
            times.append(time.perf_counter() - start)
    print(
        f"mobilenet_v3_large .tflite ({len(data) / 1e6:.1f} MB): first {times[0]:.2f} s, then {times[1]:.2f} s, {times[2]:.2f} s"
    )


if __name__ == "__main__":
    main()
