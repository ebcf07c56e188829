"""ConvNeXt-T's first stage alone: Ferry's direct file against Ferry's Keras model converted by
TFLiteConverter, in one LiteRT process, to find where the whole model's 1-thread gap to the
other converters comes from (docs/benchmarks.md, peers).

Run from the repository root:
    .venv/bin/python bench/convnext_stage.py [--blocks 3] [--rounds 12] [--invokes 20]

The stage is `--blocks` ConvNeXt blocks (depthwise 7x7, layer norm over channels, two linear
layers with GELU, layer scale, residual) at 96 channels and 56x56, with random weights and
channels-last input and output. Both files are timed at 1 thread with XNNPACK: 5 warm-ups
each, then rounds alternating between the files (the order reversed every round), each round
the median of --invokes invokes; printed are each file's ops and median, and their ratio.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics

import numpy as np
import tensorflow as tf
import torch
from ai_edge_litert.interpreter import Interpreter
from interleaved import interleave

import ferry
from ferry import _core
from ferry.zoo.imports import import_torchvision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--invokes", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    convnext = import_torchvision().models.convnext_tiny(weights=None).eval()
    stage = torch.nn.Sequential(*list(convnext.features[1])[: args.blocks]).eval()
    x = torch.rand(1, 96, 56, 56)
    order = ferry.ChannelOrder.TENSORFLOW
    options = {"outputs_channel_order": order, "verbose": False}
    direct = bytes(ferry.pytorch_to_tflite(stage, [x], validate=False, **options))
    keras_model = ferry.pytorch_to_keras(stage, [x], full_validation=False, **options)
    routed = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    files = {"Ferry direct": direct, "Ferry Keras + TFLiteConverter": routed}
    interpreters = {}
    data = np.random.default_rng(0).random((1, 56, 56, 96), dtype=np.float32)
    for name, content in files.items():
        it = Interpreter(model_content=content, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], data)
        interpreters[name] = it
    medians = interleave(interpreters, args.rounds, args.invokes)
    print(f"{args.blocks} blocks, 1 thread, load average {os.getloadavg()[0]:.1f}")
    for name, content in files.items():
        ops = collections.Counter(op[0] for op in _core.read_tflite(content)["ops"])
        listed = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        print(f"{name}: {statistics.median(medians[name]):.2f} ms; {listed}")
    first, second = (statistics.median(medians[name]) for name in files)
    print(f"direct / Keras route: {first / second:.3f}")


if __name__ == "__main__":
    main()
