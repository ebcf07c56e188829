"""What quantization buys in LiteRT: float32 against quantize="float16", "dynamic_int8" and
"int8", and TF's own converter with full-integer quantization of Ferry's Keras model, each
model's files timed in one process.

Run from the repository root:
    .venv/bin/python bench/quantize.py [--models mobilenet_v3_large resnet50 vit_s16]
        [--invokes 20] [--rounds 5] [--no-tf]

Each model (torchvision, random weights and batch-norm statistics; vit_s16 is a ViT-S/16:
12 layers of width 384, 6 heads, its class token drawn like the patch tokens) is converted once per form with validation off. "int8"
calibrates on 32 random inputs; "tf int8" is Ferry's Keras model exported as a SavedModel and
converted by tf.lite.TFLiteConverter with Optimize.DEFAULT, the same 32 inputs as its
representative dataset and TFLITE_BUILTINS_INT8 ops (float32 input and output, as Ferry's
default). The files are timed with the default delegates (XNNPACK) at 1 thread, 5 warm-ups
each, then rounds alternating between the files, each round the median of --invokes invokes.
A file XNNPACK refuses to delegate at all is timed in the builtin kernels and marked so.
The table gives each file's size, its XNNPACK partitions (DELEGATE nodes), the median latency as a ratio to float32, and the output SQNR against
PyTorch on 4 fresh inputs (the lowest).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from interleaved import interleave
from machine import cpu_name

import ferry
from ferry.litert import to_real, to_tensor
from ferry.zoo.imports import import_torchvision, randomize_statistics

FORMS = {"float32": None, "float16": "float16", "dynamic_int8": "dynamic_int8", "int8": "int8"}
CALIBRATION = 32


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    models = import_torchvision().models
    if name == "vit_s16":
        model = models.VisionTransformer(
            image_size=224,
            patch_size=16,
            num_layers=12,
            num_heads=6,
            hidden_dim=384,
            mlp_dim=1536,
        )
        # torchvision starts the class token at zero, where training moves it; drawn like
        # the patch tokens (unit variance) it is what a trained model carries.
        with torch.no_grad():
            model.class_token.normal_()
    else:
        model = getattr(models, name)(weights=None)
    return randomize_statistics(model)


def sqnr_db(expected: np.ndarray, got: np.ndarray) -> float:
    return 10 * float(np.log10((expected**2).sum() / ((expected - got) ** 2).sum()))


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def tf_int8(model: torch.nn.Module, x: torch.Tensor, calibration: list[torch.Tensor]) -> bytes:
    """TF's converter, full integer, on Ferry's Keras model (via a SavedModel)."""
    import tensorflow as tf

    keras_model = ferry.pytorch_to_keras(model, [x], verbose=False)
    with tempfile.TemporaryDirectory() as tmp:
        keras_model.export(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([nhwc(c)] for c in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return bytes(converter.convert())


def run(interpreter: Interpreter, x: np.ndarray) -> np.ndarray:
    """One output, as real values, from an interpreter already allocated."""
    (detail,) = interpreter.get_input_details()
    interpreter.set_tensor(detail["index"], to_tensor(detail, x))
    interpreter.invoke()
    (out,) = interpreter.get_output_details()
    return to_real(out, np.array(interpreter.get_tensor(out["index"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_large", "resnet50"])
    parser.add_argument("--invokes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-tf", action="store_true", help="skip TF's converter")
    args = parser.parse_args()
    print(f"{cpu_name()}, 1 thread")
    print(
        "| model | form | size | XNNPACK partitions | latency ÷ float32 | output SQNR | conversion |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        model = build(name)
        x = torch.randn(1, 3, 224, 224)
        g = torch.Generator().manual_seed(1)
        calibration = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(CALIBRATION)]
        files, seconds = {}, {}
        for form, mode in FORMS.items():
            extra = {"calibration_data": [(c,) for c in calibration]} if mode == "int8" else {}
            start = time.perf_counter()
            files[form] = bytes(
                ferry.pytorch_to_tflite(
                    model, [x], quantize=mode, validate=False, verbose=False, **extra
                )
            )
            seconds[form] = time.perf_counter() - start
        if not args.no_tf:
            start = time.perf_counter()
            files["tf int8"] = tf_int8(model, x, calibration)
            seconds["tf int8"] = time.perf_counter() - start
        g = torch.Generator().manual_seed(2)
        fresh = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(4)]
        with torch.no_grad():
            expected = [model(f).numpy() for f in fresh]
        interpreters, refused = {}, set()
        for form, data in files.items():
            try:
                it = Interpreter(model_content=data, num_threads=1)
                it.allocate_tensors()
            except RuntimeError:
                # XNNPACK refused the file as a whole: timed in the builtin kernels instead.
                refused.add(form)
                it = Interpreter(
                    model_content=data,
                    num_threads=1,
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                )
                it.allocate_tensors()
            detail = it.get_input_details()[0]
            it.set_tensor(detail["index"], to_tensor(detail, nhwc(x)))
            interpreters[form] = it
        rounds = interleave(interpreters, args.rounds, args.invokes)
        base = statistics.median(rounds["float32"])
        load = os.getloadavg()[0]
        for form, data in files.items():
            sqnr = min(
                sqnr_db(e, run(interpreters[form], nhwc(f))) for e, f in zip(expected, fresh)
            )
            ops = [op["op_name"] for op in interpreters[form]._get_ops_details()]
            median = statistics.median(rounds[form])
            partitions = "XNNPACK refused the file" if form in refused else ops.count("DELEGATE")
            print(
                f"| {name} | {form} | {len(data) / 2**20:.1f} MiB | {partitions} "
                f"| {median / base:.2f} ({median:.1f} ms) "
                f"| {sqnr:.1f} dB | {seconds[form]:.1f} s |"
            )
        print(f"(load {load:.1f} after {name})")


if __name__ == "__main__":
    main()
