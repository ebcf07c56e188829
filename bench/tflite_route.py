"""Converts one torchvision model to .tflite by one route; used by bench/tflite_latency.py.

    python bench/tflite_route.py {direct,keras} MODEL OUT.tflite

Everything the route needs is imported (and the random model built) before the clock starts,
so the time covers trace -> file written only. Prints one line `RESULT {json}` with the
seconds per stage and ru_maxrss before and after the conversion.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.join("tests", "python"))
from models.torchvision_import import random_model  # noqa: E402

import ferry  # noqa: E402
import ferry.tflite  # noqa: E402, F401  (the direct route imports nothing else lazily)


def peak_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def direct(model: torch.nn.Module, x: list[torch.Tensor], out: str) -> dict[str, Any]:
    start = time.perf_counter()
    ferry.pytorch_to_tflite(
        model,
        x,
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        path=out,
        validate=False,
    )
    return {"stages": {"total": time.perf_counter() - start}, "converter": "ferry writer"}


def import_keras_route() -> None:
    """Imports what pytorch_to_keras and the TFLite converter would otherwise import on their
    first call, so that those imports stay outside the timed region."""
    import keras  # noqa: F401
    import tensorflow as tf

    import ferry.keras  # noqa: F401
    import ferry.validate  # noqa: F401

    _ = tf.lite.TFLiteConverter, tf.lite.OpsSet


def tf_convert(saved_model: str) -> tuple[bytes, str, str]:
    """Builtin ops only first; only if that fails, builtins + SELECT_TF_OPS (whose file needs
    the Flex delegate at run time). Returns the bytes, the op sets used and the first error."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    try:
        return converter.convert(), "TFLITE_BUILTINS", ""
    except Exception as error:  # the converter raises ConverterError and plain exceptions
        first_error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    return converter.convert(), "TFLITE_BUILTINS + SELECT_TF_OPS", first_error


def keras_route(model: torch.nn.Module, x: list[torch.Tensor], out: str) -> dict[str, Any]:
    saved_model = out + ".saved_model"
    shutil.rmtree(saved_model, ignore_errors=True)
    start = time.perf_counter()
    keras_model = ferry.pytorch_to_keras(
        model,
        x,
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        full_validation=False,
        verbose=False,
    )
    built = time.perf_counter()
    keras_model.export(saved_model, verbose=False)
    exported = time.perf_counter()
    data, op_sets, first_error = tf_convert(saved_model)
    converted = time.perf_counter()
    with open(out, "wb") as f:
        f.write(data)
    done = time.perf_counter()
    shutil.rmtree(saved_model, ignore_errors=True)
    return {
        "stages": {
            "pytorch_to_keras": built - start,
            "export": exported - built,
            "tfconverter": converted - exported,
            "total": done - start,
        },
        "converter": op_sets,
        "builtins_error": first_error,
    }


def main(route: str, name: str, out: str) -> None:
    if route == "keras":
        import_keras_route()
    elif route != "direct":
        raise SystemExit(f"unknown route {route!r}")
    model = random_model(name)
    x = [torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))]
    baseline = peak_mb()
    result = (keras_route if route == "keras" else direct)(model, x, out)
    result.update(
        route=route,
        model=name,
        baseline_mb=baseline,
        peak_mb=peak_mb(),
        size=os.path.getsize(out),
    )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
