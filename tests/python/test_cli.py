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
    lines = [line.strip() for line in out.stdout.splitlines()]
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


@pytest.mark.parametrize(
    "extra, shape",
    [([], (1, 3, 8, 8)), (["--dynamic", "0:batch,2:height,3:width"], (2, 3, 5, 11))],
    ids=["static", "dynamic"],
)
def test_convert_writes_a_tflite_file_that_matches(tmp_path, extra, shape):
    """With --dynamic the file runs at another size than the traced 1x3x8x8."""
    pytest.importorskip("ai_edge_litert")
    from ferry.tflite import run_tflite

    _write_netdef(tmp_path)
    out = run_cli(
        "convert",
        "netdef:make",
        "--input",
        "1x3x8x8",
        *extra,
        "--out",
        "net.tflite",
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.rand(*shape)
    expected = reference(x).detach().permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(str(tmp_path / "net.tflite"), [x.permute(0, 2, 3, 1).numpy()])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("dynamic", ["0", "x:batch", "0:1batch", "0:a,0:b"])
def test_a_malformed_dynamic_option_is_a_usage_error(tmp_path, dynamic):
    out = run_cli(
        "convert",
        "m:f",
        "--input",
        "1x3",
        "--dynamic",
        dynamic,
        "--out",
        "m.tflite",
        cwd=str(tmp_path),
    )
    assert out.returncode == 2 and "expected free dims like 0:batch,2:height" in out.stderr


LSTM_NET = """
import torch


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 6, batch_first=True, bidirectional=True)

    def forward(self, x):
        return self.lstm(x)[0]


def make():
    torch.manual_seed(0)
    return Tagger()
"""


def test_convert_writes_lstm_as_the_sequence_builtin_on_request(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from ferry import _core

    (tmp_path / "lstmdef.py").write_text(LSTM_NET)
    args = ["convert", "lstmdef:make", "--input", "1x5x4", "--out", "tagger.tflite"]
    out = run_cli(*args, "--recurrent", "sequence", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    ops = [op[0] for op in _core.read_tflite((tmp_path / "tagger.tflite").read_bytes())["ops"]]
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2
    # The same option on a model without LSTM converts, and says it did nothing.
    _write_netdef(tmp_path)
    args = ["convert", "netdef:make", "--input", "1x3x8x8", "--out", "net.tflite"]
    out = run_cli(*args, "--recurrent", "sequence", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "had no effect: the model has no LSTM layer" in out.stderr


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


# ---- ferry ops, ferry --version ----------------------------------------------------------


def _groups(stdout: str) -> dict[str, list[str]]:
    """`ferry ops` output: heading "title (count)" -> its entry lines."""
    groups: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("  "):
            groups[current].append(line.strip())
        elif line.endswith(")"):
            current = line
            groups[current] = []
    return groups


def test_ops_are_grouped_sorted_and_counted(tmp_path):
    out = run_cli("ops", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    groups = _groups(out.stdout)
    titles = [title.rsplit(" (", 1)[0] for title in groups]
    assert titles == ["torch functions", "Tensor methods", "modules", "aten ops", "Ferry's own"]
    total = 0
    for title, lines in groups.items():
        assert title.endswith(f"({len(lines)})")
        ops = [line.split(" -> ")[0].strip() for line in lines]
        assert ops == sorted(ops), title
        assert all(" -> " in line for line in lines)
        total += len(lines)
    assert out.stdout.rstrip().endswith(f"\n{total} ops")
    by_title = {title.rsplit(" (", 1)[0]: lines for title, lines in groups.items()}
    assert any(
        line.startswith("torch.nn.functional.conv2d ") for line in by_title["torch functions"]
    )
    assert any(line.startswith("torch.Tensor.view ") for line in by_title["Tensor methods"])
    assert any(line.startswith("torch.nn.modules.rnn.LSTM ") for line in by_title["modules"])
    assert any(line.startswith("aten.relu.default ") for line in by_title["aten ops"])
    assert any(line.startswith("ferry.view_write ") for line in by_title["Ferry's own"])
    assert not any(line.startswith("torch.Tensor.") for line in by_title["torch functions"])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "RELU6",
            {
                "torch.relu6",
                "torch.relu6_",
                "torch.Tensor.relu6",
                "torch.Tensor.relu6_",
                "torch.nn.functional.relu6",
                "torch.nn.functional.relu6_",
                "aten.relu6.default",
                "aten.relu6_.default",
            },
        ),
        (
            "aten.RELU*",
            {
                "aten.relu.default",
                "aten.relu_.default",
                "aten.relu6.default",
                "aten.relu6_.default",
            },
        ),
        ("*.LSTM", {"torch.nn.modules.rnn.LSTM"}),
    ],
)
def test_ops_filter_is_a_case_insensitive_substring_or_glob(tmp_path, pattern, expected):
    out = run_cli("ops", pattern, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    listed = {line.split(" -> ")[0] for group in _groups(out.stdout).values() for line in group}
    assert {op.strip() for op in listed} == expected
    assert f"matching {pattern!r}" in out.stdout


def test_ops_filter_matching_nothing_fails(tmp_path):
    out = run_cli("ops", "no_such_op_anywhere", cwd=str(tmp_path))
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("ferry: no op matches 'no_such_op_anywhere'")


def test_ops_needs_neither_torch_nor_tensorflow(tmp_path):
    code = (
        "import sys, contextlib, io\n"
        "from ferry.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['ops', 'relu']) == 0\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version(tmp_path):
    import ferry

    out = run_cli("--version", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"ferry {ferry.__version__}"


# ---- ferry convert: bad input is one line on stderr, exit code 2, nothing written ---------

_MARKED_NETDEF = """
import pathlib
import torch
pathlib.Path("imported.marker").write_text("")
value = 5
def make():
    pathlib.Path("called.marker").write_text("")
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
def broken():
    pathlib.Path("called.marker").write_text("")
    raise RuntimeError("no weights\\nat all")
def not_a_module():
    return 3
"""


def _bad_input(tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "netdef.py").write_text(_MARKED_NETDEF)
    (tmp_path / "needs_dep.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "raises.py").write_text("x = 1\nraise ValueError('bad config')\n")
    before = set(os.listdir(tmp_path))
    out = run_cli("convert", *args, cwd=str(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    # One line saying what is wrong (after, at most, the line saying the model is loading).
    lines = [x for x in out.stderr.strip().splitlines() if not x.startswith("ferry: loading ")]
    assert len(lines) == 1 and lines[0].startswith("ferry: "), out.stderr
    written = (
        set(os.listdir(tmp_path)) - before - {"__pycache__", "imported.marker", "called.marker"}
    )
    assert written == set(), written
    return out


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("netdef", "ferry: the model 'netdef' is not module:attribute, e.g. my_models:make_net"),
        ("netdef:", "ferry: the model 'netdef:' is not module:attribute"),
        (
            "netdef.py:make",
            "ferry: 'netdef.py' is not a module name: give the module as Python "
            "imports it, e.g. netdef:make",
        ),
        (
            "no_such_module:make",
            "ferry: cannot import module 'no_such_module': "
            "ModuleNotFoundError: No module named 'no_such_module' (the current directory, ",
        ),
        (
            "needs_dep:make",
            "ferry: cannot import module 'needs_dep': ModuleNotFoundError: No "
            "module named 'no_such_dependency_xyz' (needs_dep.py, line 1)",
        ),
        (
            "raises:make",
            "ferry: cannot import module 'raises': ValueError: bad config (raises.py, line 2)",
        ),
        ("netdef:mkae", "has no attribute 'mkae'; did you mean 'make'?"),
        (
            "netdef:broken",
            "ferry: netdef:broken() raised RuntimeError: no weights at all (netdef.py, line 11)",
        ),
        ("netdef:not_a_module", "ferry: netdef:not_a_module() returned int, not a torch.nn.Module"),
        (
            "netdef:value",
            "ferry: netdef:value is not an nn.Module or a function returning one "
            "(it is of type int)",
        ),
    ],
)
def test_convert_rejects_a_bad_model(tmp_path, model, message):
    out = _bad_input(tmp_path, model, "--input", "1x3x8x8", "--out", "net.keras")
    assert message in out.stderr
    if "no module named 'no_such_module'" in message.lower():
        assert f"the current directory, {tmp_path}, is on the import path" in out.stderr
    if model == "netdef:mkae":
        assert f"\nferry: module 'netdef' ({tmp_path / 'netdef.py'})" in out.stderr


@pytest.mark.parametrize(
    ("out_path", "message"),
    [
        (
            "net.h5",
            "ferry: cannot write 'net.h5': the output must end in .keras or .tflite "
            "(ends in '.h5')",
        ),
        (
            "no_dir/net.keras",
            "ferry: cannot write 'no_dir/net.keras': the directory '{tmp}/no_dir' does not exist",
        ),
        (
            "existing.keras",
            "ferry: the output 'existing.keras' is a directory; give a file "
            "name, e.g. existing.keras/model.keras",
        ),
    ],
)
def test_convert_checks_the_output_path_before_anything_else(tmp_path, out_path, message):
    (tmp_path / "existing.keras").mkdir()
    out = _bad_input(tmp_path, "netdef:make", "--input", "1x3x8x8", "--out", out_path)
    assert out.stderr.strip() == message.format(tmp=tmp_path)
    # Failed fast: the model's module was never imported, so its factory never ran.
    assert not (tmp_path / "imported.marker").exists()
    assert not (tmp_path / "called.marker").exists()


def test_convert_checks_float16_before_anything_else(tmp_path):
    out = _bad_input(tmp_path, "netdef:make", "--input", "1x3x8x8", "--out", "n.keras", "--float16")
    assert out.stderr.strip() == "ferry: --float16 and --quantize apply to .tflite output only"
    assert not (tmp_path / "imported.marker").exists()


def test_convert_checks_quantize_before_anything_else(tmp_path):
    out = _bad_input(
        tmp_path,
        "netdef:make",
        "--input",
        "1x3x8x8",
        "--out",
        "n.keras",
        "--quantize",
        "dynamic_int8",
    )
    assert out.stderr.strip() == "ferry: --float16 and --quantize apply to .tflite output only"
    assert not (tmp_path / "imported.marker").exists()


def test_convert_writes_int8_weights_on_request(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from ferry import _core

    _write_netdef(tmp_path)
    args = ["convert", "netdef:make", "--input", "1x3x8x8", "--out", "net.tflite"]
    out = run_cli(*args, "--quantize", "dynamic_int8", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    tensors = _core.read_tflite((tmp_path / "net.tflite").read_bytes())["tensors"]
    assert any(t[2] == "INT8" for t in tensors)
    # Every conv kept float: no INT8 kernel left.
    keep = ["--keep-float", "conv", "--keep-float", "dense"]
    out = run_cli(*args, "--quantize", "dynamic_int8", *keep, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    tensors = _core.read_tflite((tmp_path / "net.tflite").read_bytes())["tensors"]
    assert not any(t[2] == "INT8" for t in tensors)


def test_convert_checks_int8_calibration_before_anything_else(tmp_path):
    args = ("netdef:make", "--input", "1x3x8x8", "--out", "n.tflite", "--quantize", "int8")
    out = _bad_input(tmp_path, *args)
    assert out.stderr.strip().startswith("ferry: --quantize int8 needs --calibration FILE")
    out = _bad_input(tmp_path, *args, "--calibration", "missing.pt")
    assert out.stderr.strip() == "ferry: --calibration missing.pt: no such file"
    assert not (tmp_path / "imported.marker").exists()


def test_convert_writes_full_integer_int8_from_a_calibration_file(tmp_path):
    pytest.importorskip("ai_edge_litert")
    import torch

    from ferry import _core

    _write_netdef(tmp_path)
    torch.save(torch.randn(8, 3, 8, 8), tmp_path / "calibration.pt")  # 8 inputs of 3x8x8
    args = ["convert", "netdef:make", "--input", "1x3x8x8", "--out", "net.tflite"]
    int8 = ["--quantize", "int8", "--calibration", "calibration.pt", "--io-dtype", "int8"]
    out = run_cli(*args, *int8, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    info = _core.read_tflite((tmp_path / "net.tflite").read_bytes())
    assert info["tensors"][info["inputs"][0]][2] == "INT8"
    assert "QUANTIZE" not in [op[0] for op in info["ops"]]


def test_convert_checks_recurrent_before_anything_else(tmp_path):
    out = _bad_input(
        tmp_path, "netdef:make", "--input", "1x3x8x8", "--out", "n.keras", "--recurrent", "sequence"
    )
    assert out.stderr.strip() == "ferry: --recurrent applies to .tflite output only"
    assert not (tmp_path / "imported.marker").exists()


def test_convert_refuses_a_directory_it_cannot_write(tmp_path, monkeypatch, capsys):
    from ferry import cli

    (tmp_path / "netdef.py").write_text(_MARKED_NETDEF)
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if p == str(locked) else real(p, mode))
    monkeypatch.chdir(tmp_path)
    code = cli.main(["convert", "netdef:make", "--input", "1x3x8x8", "--out", "locked/net.keras"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err.strip()
        == f"ferry: cannot write 'locked/net.keras': the directory '{locked}' is not writable"
    )
    assert os.listdir(locked) == []
    assert not (tmp_path / "imported.marker").exists()


def test_keras_file_gets_the_mode_of_a_plain_open(tmp_path):
    _write_netdef(tmp_path)
    code = (
        "import os, sys\n"
        "os.umask(0o022)\n"
        "from ferry.cli import main\n"
        "sys.exit(main(['convert', 'netdef:make', '--input', '1x3x8x8', '--out', 'net.keras']))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert os.stat(tmp_path / "net.keras").st_mode & 0o777 == 0o644  # mkstemp would give 0o600
    assert set(os.listdir(tmp_path)) - {"__pycache__"} == {"net.keras", "netdef.py"}
