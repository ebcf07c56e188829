"""What quantization buys in LiteRT: float32 against quantize="float16" and "dynamic_int8",
each model's files timed in one process.

Run from the repository root:
    .venv/bin/python bench/quantize.py [--models mobilenet_v3_large resnet50 vit_b_16]
        [--invokes 20] [--rounds 5]

Each torchvision model (random weights and batch-norm statistics) is converted once per form
with validation off; the files are timed with the default delegates (XNNPACK) at 1 thread,
5 warm-ups each, then rounds alternating between the files, each round the median of
--invokes invokes. The table gives each file's size, its XNNPACK partitions (DELEGATE nodes),
the median latency as a ratio to float32, and the output SQNR against PyTorch on 4 fresh
inputs (the lowest).
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from interleaved import interleave
from machine import cpu_name

import ferry
from ferry.tflite import run_tflite
from ferry.zoo.imports import import_torchvision, randomize_statistics

FORMS = {"float32": None, "float16": "float16", "dynamic_int8": "dynamic_int8"}


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = getattr(import_torchvision().models, name)(weights=None).eval()
    return randomize_statistics(model)


def sqnr_db(expected: np.ndarray, got: np.ndarray) -> float:
    return 10 * float(np.log10((expected**2).sum() / ((expected - got) ** 2).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_large", "resnet50"])
    parser.add_argument("--invokes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{cpu_name()}, 1 thread")
    print("| model | form | size | XNNPACK partitions | latency ÷ float32 | output SQNR |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        model = build(name)
        x = torch.rand(1, 3, 224, 224)
        files = {
            form: bytes(
                ferry.pytorch_to_tflite(model, [x], quantize=mode, validate=False, verbose=False)
            )
            for form, mode in FORMS.items()
        }
        fresh = [torch.rand(1, 3, 224, 224) for _ in range(4)]
        with torch.no_grad():
            expected = [model(f).numpy() for f in fresh]
        interpreters = {}
        for form, data in files.items():
            it = Interpreter(model_content=data, num_threads=1)
            it.allocate_tensors()
            detail = it.get_input_details()[0]
            it.set_tensor(detail["index"], x.permute(0, 2, 3, 1).numpy())
            interpreters[form] = it
        rounds = interleave(interpreters, args.rounds, args.invokes)
        base = statistics.median(rounds["float32"])
        load = os.getloadavg()[0]
        for form, data in files.items():
            sqnr = min(
                sqnr_db(e, run_tflite(data, [f.permute(0, 2, 3, 1).numpy()])[0])
                for e, f in zip(expected, fresh)
            )
            ops = [op["op_name"] for op in interpreters[form]._get_ops_details()]
            median = statistics.median(rounds[form])
            print(
                f"| {name} | {form} | {len(data) / 2**20:.1f} MiB | {ops.count('DELEGATE')} "
                f"| {median / base:.2f} ({median:.1f} ms) | {sqnr:.1f} dB |"
            )
        print(f"(load {load:.1f} after {name})")


if __name__ == "__main__":
    main()
