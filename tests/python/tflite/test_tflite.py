"""Direct .tflite output from the C++ core: LiteRT runs it and matches PyTorch; no TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from models.torchvision_import import import_torchvision, random_model

pytest.importorskip("ai_edge_litert")
torchvision = import_torchvision()

import ferry  # noqa: E402
from ferry import _core  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402

TOLERANCE = 1e-4
SHAPE = (1, 3, 224, 224)


@pytest.fixture(
    scope="module",
    params=["resnet18", "mobilenet_v3_large", pytest.param("resnet50", marks=pytest.mark.slow)],
)
def converted(request):
    model = random_model(request.param)
    data = ferry.pytorch_to_tflite(
        model,
        [torch.rand(*SHAPE)],
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    return request.param, model, data


def test_litert_matches_pytorch_on_a_fresh_input(converted):
    _, model, data = converted
    fresh = torch.rand(*SHAPE)
    with torch.no_grad():
        expected = model(fresh).numpy()
    (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_structure(converted):
    name, _, data = converted
    info = _core.read_tflite(data)
    ops = [op[0] for op in info["ops"]]
    counts = Counter(ops)
    assert counts["TRANSPOSE"] == 0
    assert info["version"] == 3
    assert info["signature_keys"] == ["serving_default"]
    assert all(version == 1 for _, version, *_ in info["ops"])
    produced = {out: op for op in info["ops"] for out in op[3]}
    fused = [op for op in info["ops"] if op[4] in ("RELU", "RELU6")]
    assert fused, "no fused activation"
    if name.startswith("resnet"):
        # Every ReLU is fused into the conv or the residual add; no batch norm remains.
        assert counts["RELU"] == 0 and counts["MUL"] == 0
        assert counts["CONV_2D"] == (20 if name == "resnet18" else 53)
        residual_adds = 8 if name == "resnet18" else 16
        assert Counter((op[0], op[4]) for op in info["ops"])[("ADD", "RELU")] == residual_adds
    else:
        assert counts["DEPTHWISE_CONV_2D"] == 15 and counts["HARD_SWISH"] == 21
        # The squeeze-excitation gates: hard_sigmoid's +3 is folded into the 1x1 conv's bias
        # and its RELU6 fused into the conv; only the residual adds remain as ADD.
        conv_relu6 = [op for op in info["ops"] if op[0] == "CONV_2D" and op[4] == "RELU6"]
        assert len(conv_relu6) == 8 and counts["ADD"] == 10
        assert len(ops) == 126
        for op in info["ops"]:
            if op[0] == "RELU":
                assert produced[op[2][0]][0] not in ("CONV_2D", "DEPTHWISE_CONV_2D")


def test_converting_twice_gives_identical_bytes(converted):
    name, model, data = converted
    again = ferry.pytorch_to_tflite(
        model,
        [torch.rand(*SHAPE)],
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        validate=False,
        verbose=False,
    )
    assert again == data


def test_writes_the_file_atomically(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    path = tmp_path / "m.tflite"
    data = ferry.pytorch_to_tflite(model, [torch.rand(1, 3, 8, 8)], path=path)
    assert path.read_bytes() == data
    assert os.listdir(tmp_path) == ["m.tflite"]


def test_failed_conversion_leaves_nothing(tmp_path):
    pad = torch.nn.ConstantPad1d((1, 1), 0.0)  # PAD takes at most 5 dimensions

    path = tmp_path / "m.tflite"
    with pytest.raises(ferry.ConversionError, match="at most 5 dimensions"):
        ferry.pytorch_to_tflite(pad, [torch.rand(1, 2, 3, 2, 3, 2)], path=path)
    assert os.listdir(tmp_path) == []


def test_reader_rejects_truncated_bytes():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    data = ferry.pytorch_to_tflite(model, [torch.rand(1, 3, 8, 8)], validate=False)
    with pytest.raises(ValueError, match="not a valid TFLite flatbuffer"):
        _core.read_tflite(data[: len(data) // 2])


_BLOCK_TF = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError("blocked for this test: " + name)
sys.meta_path.insert(0, _Block())
try:
    import tensorflow
    raise SystemExit("tensorflow imported despite the block")
except ImportError:
    pass
import torch, ferry
model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                            torch.nn.ReLU6(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(8, 2)).eval()
data = ferry.pytorch_to_tflite(model, [torch.rand(1, 3, 16, 16)])
assert data[4:8] == b"TFL3"
assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
print("ok")
"""


def test_works_without_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", _BLOCK_TF],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
