"""What free sizes cost: a static file against one converted with free sizes and resized to the
traced size, in one LiteRT process.

Run from the repository root:
    .venv/bin/python bench/free_sizes.py
        [--model resnet50|transformer_encoder|gpt_block|gru_tagger|<torchvision name>]
        [--invokes 30] [--rounds 5]

Converts the model twice, alternating (static, free, static, free), with validation off, and
reports each conversion's median time. The free file has batch, height and width free (an
image model) or batch and length free (the encoder: 4 layers, 256 wide, 2 x 64 tokens; the
GPT-style block of ferry.zoo.blocks, causal attention with rotary positions, 256 wide, 8 heads,
2 x 64 tokens; the GRU tagger, 2 bidirectional layers of 128 over 2 x 64 steps of 64 features,
with only the length free: a free-length GRU is a WHILE loop per layer and direction, the
static one unrolled) and is resized to the traced size (strict) before allocation. Both files are timed with the default
delegates (XNNPACK) at 1 thread: 5 warm-ups each, then rounds that alternate between the files,
each round the median of --invokes invokes. The table gives each file's operators, its number
of XNNPACK partitions (DELEGATE nodes) and the median latency, and the free file's latency as
a ratio to the static one.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from interleaved import interleave
from machine import cpu_name

import ferry
from ferry import _core
from ferry.zoo.blocks import GptBlock
from ferry.zoo.imports import import_torchvision, randomize_statistics

SIZE = 224
TOKENS, WIDTH = 64, 256  # the encoder: 2 x 64 tokens of 256


SEQUENCE_MODELS = ("transformer_encoder", "gpt_block", "gru_tagger")


class GruTagger(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(64, 128, num_layers=2, batch_first=True, bidirectional=True)
        self.head = torch.nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "gpt_block":
        return GptBlock(WIDTH, 8).eval()
    if name == "gru_tagger":
        return GruTagger().eval()
    if name == "transformer_encoder":
        layer = torch.nn.TransformerEncoderLayer(WIDTH, 8, 4 * WIDTH, batch_first=True)
        return torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False).eval()
    # Random batch-norm statistics, so that no layer is an identity (as in the peer benchmark).
    return randomize_statistics(getattr(import_torchvision().models, name)(weights=None).eval())


def example(name: str) -> tuple[torch.Tensor, tuple[int | None, ...], list[int]]:
    """The traced input, its shape with the free dims as None, and the file's input shape."""
    if name == "gru_tagger":  # recurrent layers take a free length, not a free batch
        return torch.rand(2, TOKENS, 64), (2, None, 64), [2, TOKENS, 64]
    if name in SEQUENCE_MODELS:
        # A batch of 2, timed at that size.
        return torch.rand(2, TOKENS, WIDTH), (None, None, WIDTH), [2, TOKENS, WIDTH]
    return torch.rand(1, 3, SIZE, SIZE), (None, 3, None, None), [1, SIZE, SIZE, 3]


def convert(model: torch.nn.Module, name: str, free: bool) -> tuple[bytes, float]:
    x, free_shape, _ = example(name)
    start = time.perf_counter()
    data = ferry.pytorch_to_tflite(
        model,
        [x],
        input_shapes={x: free_shape} if free else None,
        # Image models take channels-last input; a sequence's [B, T, E] stays as it is.
        inputs_channel_order=ferry.ChannelOrder.PYTORCH
        if name in SEQUENCE_MODELS
        else ferry.ChannelOrder.TENSORFLOW,
        validate=False,
        verbose=False,
    )
    return bytes(data), time.perf_counter() - start


def interpreter(data: bytes, shape: list[int]) -> Interpreter:
    it = Interpreter(model_content=data, num_threads=1)
    detail = it.get_input_details()[0]
    it.resize_tensor_input(detail["index"], shape, strict=True)
    it.allocate_tensors()
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    it.set_tensor(detail["index"], x)
    return it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--invokes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conversions", type=int, default=3)
    args = parser.parse_args()
    model = build(args.model)
    seconds: dict[str, list[float]] = {"static": [], "free": []}
    files: dict[str, bytes] = {}
    for _ in range(args.conversions):
        for kind in ("static", "free"):
            files[kind], took = convert(model, args.model, kind == "free")
            seconds[kind].append(took)
    shape = example(args.model)[2]
    interpreters = {kind: interpreter(data, shape) for kind, data in files.items()}
    rounds = interleave(interpreters, args.rounds, args.invokes)
    load = os.getloadavg()[0]
    print(f"{args.model} at {'x'.join(map(str, shape))}, {cpu_name()}, 1 thread, load {load:.1f}")
    print("| file | ops | XNNPACK partitions | conversion (median) | latency (median) |")
    print("|---|---|---|---|---|")
    for kind, data in files.items():
        ops = collections.Counter(op[0] for op in _core.read_tflite(data)["ops"])
        nodes = [op["op_name"] for op in interpreters[kind]._get_ops_details()].count("DELEGATE")
        print(
            f"| {kind} | {sum(ops.values())} ({', '.join(f'{k} {v}' for k, v in sorted(ops.items()))}) "
            f"| {nodes} | {statistics.median(seconds[kind]):.2f} s "
            f"| {statistics.median(rounds[kind]):.2f} ms |"
        )
    ratio = statistics.median(rounds["free"]) / statistics.median(rounds["static"])
    print(f"free ÷ static latency: {ratio:.3f}")


if __name__ == "__main__":
    main()
