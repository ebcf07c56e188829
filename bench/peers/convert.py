"""Converts one model with one tool, in a fresh process of that tool's environment.

    python bench/peers/convert.py TOOL MODEL RUN_DIR

Reads the model's weights and tracing input from RUN_DIR (written by run.py), writes
RUN_DIR/files/MODEL.TOOL.tflite and prints one line `RESULT {json}`: status, the reason of a
failure, the input layout of the file, seconds spent importing and converting, and peak RSS
after the imports and at the end (children included: onnx2tf runs onnxsim in a subprocess).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

START = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def peak_mb() -> float:
    """Peak RSS of this process since it started (VmHWM: Linux resets it at exec, while
    ru_maxrss keeps the forking parent's peak), or of a finished child if that was higher."""
    own = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            own = float(line.split()[1])  # KiB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return max(own, children) / 1024


import stats  # noqa: E402  (plain text handling, importable in every environment)


def import_tool(tool: str) -> None:
    """Everything the tool's conversion imports, so that the conversion time excludes it."""
    import models  # noqa: F401
    import torch  # noqa: F401

    if tool in ("ferry", "ferry_keras"):
        import ferry
        import ferry.tflite  # noqa: F401

        if tool == "ferry_keras":
            import tensorflow as tf

            import ferry.keras  # noqa: F401

            _ = tf.lite.TFLiteConverter
    elif tool == "keras_floor":
        import keras  # noqa: F401
        import tensorflow as tf

        _ = tf.lite.TFLiteConverter
    elif tool == "nobuco":
        models._IMPORTS.import_torchvision()  # nobuco imports torchvision.ops
        import nobuco  # noqa: F401
        import tensorflow as tf

        _ = tf.lite.TFLiteConverter
    elif tool == "litert_torch":
        import litert_torch  # noqa: F401
    elif tool == "onnx2tf":
        import onnx  # noqa: F401
        import onnx2tf  # noqa: F401
    else:
        raise SystemExit(f"unknown tool {tool!r}")


def tf_lite_bytes(keras_model: Any, out: Path) -> bytes:
    """TF's converter on a Keras model, builtin ops only. Keras 3 models that
    `from_keras_model` cannot trace (it calls into Keras 2's call context: GPT-2's) go through
    a SavedModel instead (`Model.export`), the route TF documents for Keras 3."""
    import tensorflow as tf

    try:
        return tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    except TypeError:
        if not hasattr(keras_model, "export"):
            raise
    import shutil

    saved_model = out.with_suffix(".saved_model")
    shutil.rmtree(saved_model, ignore_errors=True)
    keras_model.export(str(saved_model), verbose=False)
    data = tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert()
    shutil.rmtree(saved_model, ignore_errors=True)
    return data


def convert(tool: str, name: str, run: Path, out: Path) -> str:
    """Writes `out`; returns the file's input layout ("nhwc", "nchw" or "as traced")."""
    import models
    import numpy as np
    import torch

    spec = models.spec(name)
    model = models.load(name, run / "weights" / f"{name}.pt")
    x = [torch.from_numpy(a) for a in np.load(run / "inputs" / f"{name}.trace.npz").values()]
    layout = "nhwc" if spec.image else "as traced"
    if tool == "ferry":
        import ferry

        order = ferry.ChannelOrder.TENSORFLOW if spec.image else ferry.ChannelOrder.PYTORCH
        ferry.pytorch_to_tflite(
            model,
            x,
            inputs_channel_order=order,
            outputs_channel_order=order,
            path=out,
            validate=False,
            verbose=False,
        )
    elif tool in ("ferry_keras", "nobuco"):
        # One call for both: Ferry keeps nobuco's API (nobuco has no `verbose`).
        converter = importlib.import_module("ferry" if tool == "ferry_keras" else "nobuco")
        quiet = {"verbose": False} if tool == "ferry_keras" else {}
        order = converter.ChannelOrder.TENSORFLOW if spec.image else converter.ChannelOrder.PYTORCH
        keras_model = converter.pytorch_to_keras(
            model,
            args=x,
            inputs_channel_order=order,
            outputs_channel_order=order,
            full_validation=False,
            **quiet,
        )
        out.write_bytes(tf_lite_bytes(keras_model, out))
    elif tool == "keras_floor":
        import keras

        if not spec.keras_floor:
            raise NotImplementedError("keras.applications has no model of this architecture")
        # Ferry's models take no preprocessing, nor may the floor where Keras has the switch.
        options = (
            {"include_preprocessing": False}
            if spec.keras_floor in ("MobileNetV3Large", "ConvNeXtTiny")
            else {}
        )
        size = tuple(x[0].shape[2:])
        keras.utils.set_random_seed(0)
        keras_model = getattr(keras.applications, spec.keras_floor)(
            weights=None, input_shape=(*size, 3), **options
        )
        out.write_bytes(tf_lite_bytes(keras_model, out))
    elif tool == "litert_torch":
        import litert_torch

        litert_torch.convert(model, tuple(x)).export(str(out))
        layout = "nchw" if spec.image else "as traced"
    elif tool == "onnx2tf":
        onnx_to_tflite(model, x, out, run)
    return layout


def onnx_to_tflite(model: Any, x: list[Any], out: Path, run: Path) -> None:
    import shutil

    import numpy as np
    import onnx2tf
    import torch

    work = out.with_suffix(".onnx2tf")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    onnx_path = work / "model.onnx"
    names = [f"input_{i}" for i in range(len(x))]
    # Exported with grad enabled: under no_grad nn.MultiheadAttention takes a fast path the
    # TorchScript exporter cannot export.
    torch.onnx.export(
        model,
        tuple(x),
        str(onnx_path),
        dynamo=False,
        opset_version=17,
        input_names=names,
        output_names=["output"],
    )
    # onnx2tf downloads a calibration sample for image inputs, which fails offline; it only
    # reads it to test a quantized model, so a sample of our own stands in.
    sample = Path("calibration_image_sample_data_20x128x128x3_float32.npy")
    if not sample.exists():
        rng = np.random.default_rng(0)
        np.save(sample, rng.random((20, 128, 128, 3), dtype=np.float32))
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env_path}"  # onnxsim
    # onnx2tf reports a failure by printing it and calling sys.exit(1): keep what it printed
    # so the row says why, not only "SystemExit: 1".
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(Tee(sys.stdout, printed)):
            onnx2tf.convert(
                input_onnx_file_path=str(onnx_path),
                output_folder_path=str(work / "out"),
                non_verbose=True,
            )
    except SystemExit as error:
        raise RuntimeError(
            stats.onnx2tf_error(printed.getvalue()) or f"exit {error.code}"
        ) from error
    produced = sorted((work / "out").glob("*_float32.tflite"))
    if not produced:
        raise RuntimeError("onnx2tf wrote no float32 .tflite")
    shutil.move(produced[0], out)
    shutil.rmtree(work, ignore_errors=True)


class Tee(io.TextIOBase):
    """Writes to two streams, so a tool's output is both shown and kept."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def reason(error: BaseException) -> str:
    """The error's message, shortened: its first line, and the next one too where the first
    only says in which Keras layer it happened."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = (
        " ".join(lines[:2])
        if lines and lines[0].startswith("Exception encountered")
        else (lines[0] if lines else "")
    )
    return f"{type(error).__name__}: {text}"[:300]


def main(tool: str, name: str, run_dir: str) -> None:
    run = Path(run_dir).resolve()
    out = run / "files" / f"{name}.{tool}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    result: dict[str, Any] = {"tool": tool, "model": name}
    os.chdir(out.parent)  # onnx2tf writes beside the working directory
    try:
        import_tool(tool)
        result["import_s"] = time.perf_counter() - START
        result["import_peak_mb"] = peak_mb()
        begin = time.perf_counter()
        result["layout"] = convert(tool, name, run, out)
        result["convert_s"] = time.perf_counter() - begin
        result["status"] = "ok"
    except BaseException as error:  # a peer's failure is a row, never a crash of the run
        result["status"] = "FAIL"
        result["reason"] = reason(error)
        traceback.print_exc()
        out.unlink(missing_ok=True)
    result["peak_mb"] = peak_mb()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
