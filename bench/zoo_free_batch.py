"""Which of the zoo's architectures convert with their batch free.

Run from the repository root:
    .venv/bin/python bench/zoo_free_batch.py [MODEL ...]

Each model of `ferry zoo` (random weights; video models left out) is converted to .tflite
with dim 0 of every input free and `validate_shapes` at batches 1 and 3: the file must run,
resized, within tolerance of PyTorch at both. Prints one line per model (ok with the
conversion time, or the first reason it did not convert) and the count.
"""

from __future__ import annotations

import sys
import time
import warnings

import torch

import ferry
from ferry.zoo.models import zoo


def first_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    for line in lines:
        if "cannot" in line or "not supported" in line or "free" in line or "differ" in line:
            return line
    return lines[0] if lines else type(error).__name__


def main(names: list[str]) -> None:
    warnings.filterwarnings("ignore")
    results = []
    for m in zoo():
        if (names and m.name not in names) or m.family == "video":
            continue
        model = m.build().eval()
        inputs = m.inputs(torch.Generator().manual_seed(0))
        order = ferry.ChannelOrder.TENSORFLOW if m.image else ferry.ChannelOrder.PYTORCH
        start = time.perf_counter()
        try:
            ferry.pytorch_to_tflite(
                model,
                inputs,
                input_shapes={x: (None, *x.shape[1:]) for x in inputs},
                validate_shapes=[[(b, *x.shape[1:]) for x in inputs] for b in (1, 3)],
                inputs_channel_order=order,
                outputs_channel_order=order,
                full_validation=False,
                verbose=False,
            )
            results.append((m.name, True, f"{time.perf_counter() - start:.1f} s"))
        except Exception as error:  # a model that does not convert is a row, not a stop
            results.append((m.name, False, first_reason(error)[:200]))
        name, ok, detail = results[-1]
        print(f"{name}: {'ok' if ok else 'FAIL'} ({detail})", flush=True)
    passed = sum(1 for _, ok, _ in results if ok)
    print(f"{passed}/{len(results)} convert with the batch free")


if __name__ == "__main__":
    main(sys.argv[1:])
