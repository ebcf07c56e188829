"""A strided region write behind a convolution in LiteRT (nobuco's SliceReLU benchmark).

Run from the repository root:
    .venv/bin/python bench/slice_write.py [--size 224] [--invokes 30] [--rounds 5]

nobuco's README times this module behind a 3x3 convolution, input and output in TensorFlow
channel order:
    x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
The script converts it with Ferry and converts the convolution alone (the floor the write
adds to), prints each file's operators, and times both in LiteRT with the default delegates
(XNNPACK) at 1 and 2 threads, interleaved (conv, slice, conv, slice, ...): each round takes
the median of --invokes invokes after 5 warm-ups; the table shows the median over the rounds
and the write's cost above the convolution alone.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from interleaved import median_ms
from peers.models import SliceReLUNet as ConvSlice  # the module the peer benchmark runs
from torch import nn

import ferry
from ferry import _core

WARMUP = 5


class ConvOnly(ConvSlice):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def convert(model: nn.Module, size: int, directory: str, name: str) -> str:
    path = os.path.join(directory, name + ".tflite")
    x = torch.randn(1, 3, size, size)  # the .tflite takes and gives TensorFlow order
    ferry.pytorch_to_tflite(
        model.eval(),
        [x],
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        path=path,
        verbose=False,
    )
    return path


def interpreter(path: str, threads: int) -> tuple[Interpreter, np.ndarray]:
    it = Interpreter(model_path=path, num_threads=threads)
    it.allocate_tensors()
    detail = it.get_input_details()[0]
    x = np.random.default_rng(0).standard_normal(detail["shape"]).astype(np.float32)
    it.set_tensor(detail["index"], x)
    for _ in range(WARMUP):
        it.invoke()
    return it, x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--invokes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = ConvSlice()
    conv_only = ConvOnly()
    conv_only.conv = model.conv
    with tempfile.TemporaryDirectory() as directory:
        paths = {
            "conv": convert(conv_only, args.size, directory, "conv"),
            "conv+slice": convert(model, args.size, directory, "slice"),
        }
        for name, path in paths.items():
            with open(path, "rb") as f:
                counts = collections.Counter(op[0] for op in _core.read_tflite(f.read())["ops"])
            print(f"{name}: " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())))
        print(f"\ninput 1x{args.size}x{args.size}x3, median ms over {args.rounds} rounds")
        print(f"{'threads':>8} {'conv':>8} {'conv+slice':>11} {'write':>8}")
        for threads in (1, 2):
            its = {name: interpreter(path, threads)[0] for name, path in paths.items()}
            rounds: dict[str, list[float]] = {name: [] for name in its}
            for _ in range(args.rounds):
                for name, it in its.items():
                    rounds[name].append(median_ms(it, args.invokes))
            conv = statistics.median(rounds["conv"])
            both = statistics.median(rounds["conv+slice"])
            print(f"{threads:>8} {conv:>8.3f} {both:>11.3f} {both - conv:>8.3f}")


if __name__ == "__main__":
    main()
