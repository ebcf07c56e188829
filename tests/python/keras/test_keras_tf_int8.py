"""Ferry's Keras model through TF's own converter with full-integer quantization: what a user
of the Keras path does to ship int8, and what docs/quantization.md compares Ferry's int8 with."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")
tf = pytest.importorskip("tensorflow")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

import ferry  # noqa: E402
from ferry.litert import to_real, to_tensor  # noqa: E402


def test_padded_max_pooling_survives_tf_int8_calibration(tmp_path):
    # PyTorch pads max pooling on both sides, which TF's "SAME" does not: the Keras model pads
    # explicitly, with a value no max picks. The lowest float there gave the padded tensor a
    # scale of 1e36 in TF's int8 file (0 dB, refused by XNNPACK).
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 8, 3)
    ).eval()
    g = torch.Generator().manual_seed(1)
    calibration = [torch.randn(1, 3, 16, 16, generator=g) for _ in range(8)]
    keras_model = ferry.pytorch_to_keras(model, [calibration[0]], verbose=False)
    keras_model.export(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [c.permute(0, 2, 3, 1).numpy()] for c in calibration
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()  # XNNPACK takes the file
    fresh = torch.randn(1, 3, 16, 16, generator=g)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.set_tensor(inp["index"], to_tensor(inp, fresh.permute(0, 2, 3, 1).numpy()))
    interpreter.invoke()
    got = to_real(out, interpreter.get_tensor(out["index"]))
    with torch.no_grad():
        expected = model(fresh).permute(0, 2, 3, 1).numpy()
    sqnr = 10 * np.log10((expected**2).sum() / ((expected - got) ** 2).sum())
    assert sqnr >= 30  # 38.9 dB measured
