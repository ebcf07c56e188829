"""pytorch_to_tflite's options: float16 weights, the large-model layout (weights after the
flatbuffer, also for a real model over 2 GB), and the per-node report from LiteRT."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert")

from models.linear_stack import GIB, linear_stack  # noqa: E402

import ferry  # noqa: E402
from ferry import _core  # noqa: E402
from ferry.errors import ValidationError  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402


def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1, groups=16),
        torch.nn.Hardswish(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
    ).eval()


def _fresh_close(model, data_or_path, shape, tolerance):
    x = torch.rand(*shape) * 2 - 0.5  # not the traced input
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = run_tflite(
        data_or_path, [x.permute(0, 2, 3, 1).numpy() if x.dim() == 4 else x.numpy()]
    )
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


def test_float16_weights_halve_the_file_and_stay_close():
    model = _cnn()
    full = ferry.pytorch_to_tflite(model, [torch.rand(1, 3, 32, 32)], verbose=False)
    half = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 32, 32)], float16_weights=True, verbose=False
    )
    info = _core.read_tflite(half)
    ops = Counter((op[0], op[1]) for op in info["ops"])
    assert ops[("DEQUANTIZE", 3)] == 3  # the two filters and the dense weights
    stored = [t for t in info["tensors"] if t[2] == "FLOAT16"]
    assert len(stored) == 3 and all(t[4] > 0 for t in stored)
    assert dict(info["metadata"])["min_runtime_version"].rstrip(b"\0") == b"1.15.0"
    assert len(half) < len(full)
    diff, scale = _fresh_close(model, half, (1, 3, 32, 32), 1e-2)
    # Weights rounded to 11 significant bits: ~1e-3 relative, far from float32's 1e-6.
    assert diff <= 1e-2 * max(1.0, scale)


def test_float16_weights_in_the_large_model_layout():
    # The float16 cast happens while the appended buffers are streamed: same result.
    model = _cnn()
    data = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3, 32, 32)],
        float16_weights=True,
        buffer_placement="external",
        verbose=False,
    )
    info = _core.read_tflite(bytes(data))
    assert info["external_buffers"]
    assert sum(op[0] == "DEQUANTIZE" for op in info["ops"]) == 3
    diff, scale = _fresh_close(model, bytes(data), (1, 3, 32, 32), 1e-2)
    assert diff <= 1e-2 * max(1.0, scale)


def test_float16_weights_of_a_large_conv_net():
    from models.torchvision_import import random_model

    model = random_model("mobilenet_v3_large")
    data = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 224, 224)], float16_weights=True, verbose=False
    )
    full_size = sum(p.numel() * 4 for p in model.parameters())
    assert len(data) < 0.6 * full_size  # BN folded away, the rest halved
    diff, scale = _fresh_close(model, data, (1, 3, 224, 224), 1e-2)
    assert diff <= 1e-2 * max(1.0, scale)


def test_float16_weights_fail_a_float32_tolerance_clearly(tmp_path):
    target = tmp_path / "m.tflite"
    with pytest.raises(ValidationError, match="differs from PyTorch"):
        ferry.pytorch_to_tflite(
            _cnn(),
            [torch.rand(1, 3, 32, 32)],
            float16_weights=True,
            validation_tolerance=1e-7,
            path=target,
            verbose=False,
        )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("to_file", [False, True])
def test_external_buffers_load_and_match(tmp_path, to_file):
    model = _cnn()
    path = tmp_path / "ext.tflite" if to_file else None
    data = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 32, 32)], buffer_placement="external", path=path, verbose=False
    )
    info = _core.read_tflite_file(str(path)) if to_file else _core.read_tflite(bytes(data))
    assert info["external_buffers"]
    assert dict(info["metadata"])["buffer_location"] == b"outside flatbuffers"
    assert all(offset % 16 == 0 for offset in info["buffer_offsets"])
    diff, scale = _fresh_close(model, str(path) if to_file else bytes(data), (1, 3, 32, 32), 1e-4)
    assert diff <= 1e-4 * max(1.0, scale)
    inline = ferry.pytorch_to_tflite(model, [torch.rand(1, 3, 32, 32)], verbose=False)
    assert not _core.read_tflite(inline)["external_buffers"]


def test_bad_buffer_placement_is_refused():
    with pytest.raises(ValueError, match="buffer_placement"):
        ferry.pytorch_to_tflite(_cnn(), [torch.rand(1, 3, 8, 8)], buffer_placement="outside")


def test_per_node_report_from_litert(capsys):
    model = _cnn()
    data, report = ferry.pytorch_to_tflite(
        model, [torch.rand(1, 3, 32, 32)], return_report=True, verbose=True
    )
    assert data[4:8] == b"TFL3"
    # Every call whose result has a tensor in the file is checked; the conv before the
    # folded batch norm has none, the batch norm stands for it.
    assert report.nodes, "no per-node checks"
    assert all(check.ok and check.max_abs < 1e-4 for check in report.nodes.values())
    out = capsys.readouterr().out
    for name in ("BatchNorm2d", "Hardswish", "Linear"):
        assert name in out
    assert "max abs diff of outputs" in out


def test_per_node_report_flags_an_inaccurate_node():
    # float16 weights with a per-node tolerance between float16's error and the output
    # check: the nodes show the error while the output tolerance still passes.
    model = _cnn()
    _, report = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3, 32, 32)],
        float16_weights=True,
        validation_tolerance=0.05,
        return_report=True,
        verbose=False,
    )
    worst = max(check.max_abs for check in report.nodes.values())
    assert 1e-6 < worst < 0.05


def test_without_full_validation_only_outputs_are_checked():
    _, report = ferry.pytorch_to_tflite(
        _cnn(), [torch.rand(1, 3, 32, 32)], full_validation=False, return_report=True, verbose=False
    )
    assert report.nodes == {} and len(report.outputs) == 1


@pytest.mark.slow
def test_a_model_over_2gb_converts_loads_and_computes(tmp_path):
    width = 4096
    model, weights = linear_stack(2.1, width, 32768)
    assert weights > 2 * GIB
    path = tmp_path / "big.tflite"
    data = ferry.pytorch_to_tflite(model, [torch.rand(2, width)], path=path, verbose=False)
    size = os.path.getsize(path)
    assert size > weights  # every weight is in the file, after a small flatbuffer
    assert len(data) == size  # returned as a map of the file, not a copy
    info = _core.read_tflite_file(str(path))
    assert info["external_buffers"]
    assert [op[0] for op in info["ops"]].count("FULLY_CONNECTED") == len(model) // 2 + 1
    x = torch.rand(2, width) - 0.5
    with torch.no_grad():
        expected = model(x).numpy()
    del data
    (got,) = run_tflite(str(path), [x.numpy()])
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
