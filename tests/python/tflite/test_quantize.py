"""pytorch_to_tflite(quantize=...): float16 weights, and dynamic-range int8 (INT8 conv and
dense kernels, symmetric per output channel, run by the hybrid kernels; depthwise kernels stay
float32 for XNNPACK)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")
from ai_edge_litert import schema_py_generated as schema  # noqa: E402

import ferry  # noqa: E402
from ferry import _core  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 1),
        nn.Hardswish(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    ).eval()


def _sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    """Signal to quantization noise, in dB."""
    noise = float(((expected - got) ** 2).sum())
    return 10 * np.log10(float((expected**2).sum()) / max(noise, 1e-30))


def _kernels(data: bytes) -> list[tuple[str, int, list[float], int]]:
    """(operator, version, the scales of its INT8 weights, their quantized dimension) for each
    operator reading an INT8 constant."""
    model = schema.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        for j in range(op.InputsLength()):
            index = op.Inputs(j)
            if index < 0:
                continue
            tensor = graph.Tensors(index)
            if tensor.Type() != schema.TensorType.INT8:
                continue
            q = tensor.Quantization()
            scales = [q.Scale(k) for k in range(q.ScaleLength())]
            assert all(q.ZeroPoint(k) == 0 for k in range(q.ZeroPointLength()))  # symmetric
            found.append(
                (names[code.BuiltinCode()], code.Version(), scales, q.QuantizedDimension())
            )
    return found


def test_dynamic_int8_stores_kernels_per_channel_for_the_hybrid_kernels():
    model = _cnn()
    x = torch.rand(1, 3, 32, 32)
    full = bytes(ferry.pytorch_to_tflite(model, [x], verbose=False))
    data = bytes(ferry.pytorch_to_tflite(model, [x], quantize="dynamic_int8", verbose=False))
    kernels = _kernels(data)
    # Conv (its batch norm folded in first), the 1x1 conv and the dense layer: each an INT8
    # kernel with one scale per output channel, at the hybrid kernels' versions. The depthwise
    # kernel stays float32 (XNNPACK runs no hybrid depthwise op).
    assert [(op, version, len(s), axis) for op, version, s, axis in kernels] == [
        ("CONV_2D", 5, 32, 0),
        ("CONV_2D", 5, 64, 0),
        ("FULLY_CONNECTED", 12, 10, 0),
    ]
    assert all(len(set(s)) > 1 for _, _, s, _ in kernels)  # really per channel
    ops = Counter(op[0] for op in _core.read_tflite(data)["ops"])
    assert "DEQUANTIZE" not in ops and "QUANTIZE" not in ops
    assert len(data) < 0.5 * len(full)
    for _ in range(3):  # fresh inputs
        fresh = torch.rand(1, 3, 32, 32) * 2 - 0.5
        with torch.no_grad():
            expected = model(fresh).numpy()
        (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
        assert _sqnr(expected, got) >= 30


def test_dynamic_int8_on_a_torchvision_model():
    from models.torchvision_import import random_model

    model = random_model("mobilenet_v3_small")
    x = torch.rand(1, 3, 96, 96)
    data = bytes(ferry.pytorch_to_tflite(model, [x], quantize="dynamic_int8", verbose=False))
    assert len(_kernels(data)) > 40
    fresh = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        expected = model(fresh).numpy()
    (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    assert _sqnr(expected, got) >= 30  # 36 dB measured


def test_quantize_float16_is_float16_weights():
    model = _cnn()
    x = torch.rand(1, 3, 32, 32)
    alias = ferry.pytorch_to_tflite(model, [x], quantize="float16", verbose=False)
    assert alias == ferry.pytorch_to_tflite(model, [x], float16_weights=True, verbose=False)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"quantize": "int4"}, ValueError, "quantize must be one of"),
        ({"quantize": "dynamic_int8", "float16_weights": True}, ValueError, "two different"),
        ({"quantize": "int8"}, ValueError, "needs calibration_data"),
        ({"quantize": "int8", "calibration_data": []}, ValueError, "calibration_data is empty"),
        ({"quantize": "int16x8"}, ValueError, "needs calibration_data"),
        ({"quantize": "int16x8", "io_dtype": "int8"}, ValueError, "takes and gives float32"),
        ({"calibration_data": [()]}, ValueError, "applies to quantize='int8' or 'int16x8' only"),
        ({"quantize": "int8", "io_dtype": "int4"}, ValueError, "io_dtype must be one of"),
        ({"quantize": "int8", "observer": "kl"}, ValueError, "observer must be one of"),
    ],
)
def test_quantize_options_are_checked_before_any_work(options, error, message, tmp_path):
    with pytest.raises(error, match=message):
        ferry.pytorch_to_tflite(
            _cnn(), [torch.rand(1, 3, 8, 8)], path=tmp_path / "m.tflite", verbose=False, **options
        )
    assert list(tmp_path.iterdir()) == []


def test_the_report_ranks_layers_by_what_keeping_them_float_wins():
    from models.torchvision_import import random_model

    model = random_model("mobilenet_v3_small")
    x = torch.rand(1, 3, 96, 96)
    options = {"quantize": "dynamic_int8", "verbose": False, "return_report": True}
    _, report = ferry.pytorch_to_tflite(model, [x], **options)
    rows = ferry.quantization_report(report, model)
    assert len(rows) > 20
    estimates = [row.removable_db for row in rows]
    assert estimates == sorted(estimates)
    # The estimate is the output's: a module's noise damped by the layers after it counts
    # for less than the noise it adds where it is made.
    assert any(row.removable_db > row.own_sqnr_db + 6 for row in rows)
    worst = rows[0]
    assert worst.scope and worst.op and worst.invoked
    assert worst.module and worst.scope.startswith(worst.module)  # what holds its kernel
    _, kept = ferry.pytorch_to_tflite(model, [x], keep_float=[worst.module], **options)
    # Its kernels in float32, the call adds next to no noise of its own, and the output gains.
    (again,) = [row for row in ferry.quantization_report(kept) if row.node == worst.node]
    assert again.own_sqnr_db >= worst.own_sqnr_db + 10
    assert kept.output_sqnr_db[0] > report.output_sqnr_db[0] + 0.5


def test_the_estimate_leaves_the_model_its_inputs_and_the_random_state_alone():
    model = _cnn()
    x = torch.rand(1, 3, 32, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x_before = x.clone()
    torch.manual_seed(5)
    state = torch.get_rng_state()
    _, report = ferry.pytorch_to_tflite(
        model, [x], quantize="dynamic_int8", verbose=False, return_report=True
    )
    assert report.removable_db  # estimated, per checked call
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(x, x_before)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())


def test_a_large_model_has_only_its_noisiest_modules_estimated(monkeypatch, tmp_path):
    import ferry.quantization

    monkeypatch.setattr(ferry.quantization, "ESTIMATED_MODULES", 1)
    model = _cnn()
    page = tmp_path / "report.html"
    _, report = ferry.pytorch_to_tflite(
        model,
        [torch.rand(1, 3, 16, 16)],
        quantize="dynamic_int8",
        verbose=False,
        return_report=True,
        save_trace_html=str(page),
    )
    rows = ferry.quantization_report(report, model)
    tried = {row.module for row in rows if math.isfinite(row.removable_db)}
    skipped = {row.module for row in rows if math.isnan(row.removable_db)}
    # The module making the output ("9", the last linear layer) is always tried; of the rest
    # only the noisiest one; the others come last, by the noise they add, marked so.
    assert "9" in tried and len(tried) == 2 and skipped
    flags = [math.isnan(row.removable_db) for row in rows]
    assert flags == sorted(flags)
    assert "not estimated" in str(rows[-1]) and "not estimated" in page.read_text()


def test_keep_float_by_op_and_an_unused_entry_says_so():
    model = _cnn()
    x = torch.rand(1, 3, 32, 32)
    with pytest.warns(ferry.OptionNotUsedWarning, match="'no.such.layer' keeps no kernel"):
        data = ferry.pytorch_to_tflite(
            model,
            [x],
            quantize="dynamic_int8",
            keep_float=["dense", "no.such.layer"],
            verbose=False,
        )
    assert [op for op, *_ in _kernels(bytes(data))] == ["CONV_2D", "CONV_2D"]
    with pytest.raises(ValueError, match="keep_float applies to quantize='dynamic_int8'"):
        ferry.pytorch_to_tflite(model, [x], keep_float=["dense"], verbose=False)


def test_suggested_layers_reach_the_target_sqnr():
    from models.torchvision_import import random_model

    model = random_model("mobilenet_v3_small")
    x = torch.rand(1, 3, 96, 96)
    _, report = ferry.pytorch_to_tflite(
        model, [x], quantize="dynamic_int8", verbose=False, return_report=True
    )
    target = report.output_sqnr_db[0] + 2.0
    kept = ferry.suggest_keep_float(model, [x], target)
    assert kept == ["classifier.3"]  # ranked first: the last layer, where no later one damps it
    _, better = ferry.pytorch_to_tflite(
        model, [x], quantize="dynamic_int8", keep_float=kept, verbose=False, return_report=True
    )
    assert better.output_sqnr_db[0] >= target


def test_the_page_lists_the_noisiest_calls_worst_first(tmp_path):
    page = tmp_path / "report.html"
    _, report = ferry.pytorch_to_tflite(
        _cnn(),
        [torch.rand(1, 3, 32, 32)],
        quantize="dynamic_int8",
        save_trace_html=str(page),
        return_report=True,
        verbose=False,
    )
    text = page.read_text()
    assert "Quantization noise, worst first" in text and "Output SQNR" in text
    rows = ferry.quantization_report(report)
    first, second = (
        f"{row.removable_db:.1f} dB at the output if kept float, {row.own_sqnr_db:.1f} dB added"
        for row in rows[:2]
    )
    assert text.index(first) < text.index(second)
