"""`ferry ops` and `ferry convert`, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import torch


def run_cli(*args: str, cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "ferry.cli", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


def test_ops_lists_rules_with_their_mapping(tmp_path):
    out = run_cli("ops", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("torch.nn.functional.conv2d") and "conv" in line for line in lines)
    assert len(lines) > 100


def _write_netdef(tmp_path) -> None:
    (tmp_path / "netdef.py").write_text(
        textwrap.dedent(
            """
            import torch
            torch.manual_seed(0)
            def make():
                return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
            """
        )
    )


def test_convert_writes_a_keras_file_that_matches(tmp_path):
    _write_netdef(tmp_path)
    out = run_cli(
        "convert", "netdef:make", "--input", "1x3x8x8", "--out", "net.keras", cwd=str(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    import ferry.keras  # noqa: F401  (registers Ferry's layers, as a loading process must)

    model = keras.models.load_model(tmp_path / "net.keras")
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.rand(1, 3, 8, 8)
    expected = reference(x).detach().permute(0, 2, 3, 1).numpy()
    got = np.asarray(model(x.permute(0, 2, 3, 1).numpy()))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_convert_writes_a_tflite_file_that_matches(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from ferry.tflite import run_tflite

    _write_netdef(tmp_path)
    out = run_cli(
        "convert", "netdef:make", "--input", "1x3x8x8", "--out", "net.tflite", cwd=str(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.rand(1, 3, 8, 8)
    expected = reference(x).detach().permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(str(tmp_path / "net.tflite"), [x.permute(0, 2, 3, 1).numpy()])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_failed_conversion_leaves_no_file(tmp_path):
    (tmp_path / "bad.py").write_text(
        textwrap.dedent(
            """
            import torch
            class Bad(torch.nn.Module):
                def forward(self, x):
                    return torch.special.i0(x)
            """
        )
    )
    out = run_cli("convert", "bad:Bad", "--input", "1x3", "--out", "bad.keras", cwd=str(tmp_path))
    assert out.returncode != 0
    assert "i0" in out.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.py"] or "bad.keras" not in os.listdir(tmp_path)
    assert not any(name.startswith(".ferry-") for name in os.listdir(tmp_path))
