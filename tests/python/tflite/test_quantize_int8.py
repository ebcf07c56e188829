"""pytorch_to_tflite(quantize="int8"): full integer post-training quantization from a
calibration set (cpp/tflite/quantize.cc, ferry/calibration.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")
from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from quantized_file import Tensor, read  # noqa: E402

import ferry  # noqa: E402
from ferry.calibration import RangeObserver  # noqa: E402
from ferry.errors import OptionNotUsedWarning  # noqa: E402
from ferry.litert import interpreter  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402


def sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    noise = float(((expected - got) ** 2).sum())
    return 10 * np.log10(float((expected**2).sum()) / max(noise, 1e-30))


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),
        nn.Hardswish(),
        nn.Conv2d(16, 32, 1),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    ).eval()


def calibration(shape: tuple[int, ...], count: int = 16, seed: int = 1) -> list[tuple]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=g),) for _ in range(count)]


def convert(model: nn.Module, x: torch.Tensor, **options) -> bytes:
    options.setdefault("calibration_data", calibration(tuple(x.shape)))
    return bytes(ferry.pytorch_to_tflite(model, [x], quantize="int8", verbose=False, **options))


def test_cnn_runs_integer_only_between_one_quantize_and_one_dequantize():
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    data = convert(model, x)
    ops, tensors = read(data)
    assert ops[0].name == "QUANTIZE" and ops[-1].name == "DEQUANTIZE"
    inner = ops[1:-1]
    assert not any(op.name in ("QUANTIZE", "DEQUANTIZE") for op in inner)
    for op in inner:  # no float op: every tensor an int8 op touches is INT8 or INT32
        for t in op.inputs + op.outputs:
            if t >= 0:
                assert tensors[t].type in ("INT8", "INT32"), (op.name, tensors[t])
    versions = {op.name: op.version for op in inner}
    assert versions["CONV_2D"] == 3 and versions["DEPTHWISE_CONV_2D"] == 3
    assert versions["FULLY_CONNECTED"] == 4 and versions["MAX_POOL_2D"] == 2
    g = torch.Generator().manual_seed(7)
    for _ in range(3):  # fresh inputs, not the traced or calibration ones
        fresh = torch.randn(1, 3, 32, 32, generator=g)
        with torch.no_grad():
            expected = model(fresh).numpy()
        (got,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
        assert sqnr(expected, got) >= 30  # 40-45 dB measured


def test_kernels_are_per_channel_symmetric_and_biases_int32_at_input_times_kernel_scale():
    data = convert(cnn(), torch.randn(1, 3, 32, 32))
    ops, tensors = read(data)
    checked = 0
    for op in ops:
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        source, kernel, bias = (tensors[i] for i in op.inputs[:3])
        axis = 3 if op.name == "DEPTHWISE_CONV_2D" else 0
        assert kernel.type == "INT8" and kernel.dimension == axis
        assert len(kernel.scales) == kernel.shape[axis] > 1
        assert set(kernel.zero_points) == {0}
        assert bias.type == "INT32" and set(bias.zero_points) == {0}
        assert np.allclose(bias.scales, source.scales[0] * np.array(kernel.scales), rtol=1e-6)
        checked += 1
    assert checked == 4


def _params(tensors: list[Tensor], index: int) -> tuple[float, int]:
    return tensors[index].scales[0], tensors[index].zero_points[0]


def test_tied_and_fixed_scales_follow_the_kernels():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            y = torch.cat([self.a(x), 2 * self.b(x)], 1)
            y = nn.functional.max_pool2d(y, 2).flatten(1)
            return torch.sigmoid(y), torch.softmax(y, -1), torch.tanh(y)

    torch.manual_seed(0)
    data = convert(Net().eval(), torch.randn(1, 3, 8, 8))
    ops, tensors = read(data)
    by_name = {op.name: op for op in ops}
    for name in ("CONCATENATION", "MAX_POOL_2D", "RESHAPE"):
        op = by_name[name]
        ins = [_params(tensors, t) for t in op.inputs if tensors[t].type == "INT8"]
        assert ins and all(p == _params(tensors, op.outputs[0]) for p in ins), name
    assert _params(tensors, by_name["LOGISTIC"].outputs[0]) == (1 / 256, -128)
    assert _params(tensors, by_name["SOFTMAX"].outputs[0]) == (1 / 256, -128)
    assert _params(tensors, by_name["TANH"].outputs[0]) == (1 / 128, 0)


@pytest.mark.parametrize("io_dtype", ["int8", "uint8"])
def test_io_dtype_gives_quantized_inputs_and_outputs(io_dtype):
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    floats = convert(model, x)
    data = convert(model, x, io_dtype=io_dtype)
    ops, _ = read(data)
    runner = interpreter(data)
    (inp,) = runner.get_input_details()
    (out,) = runner.get_output_details()
    assert np.dtype(inp["dtype"]) == np.dtype(io_dtype)
    assert np.dtype(out["dtype"]) == np.dtype(io_dtype)
    assert "DEQUANTIZE" not in [op.name for op in ops]
    fresh = torch.randn(1, 3, 32, 32).permute(0, 2, 3, 1).numpy()
    (want,) = run_tflite(floats, [fresh])
    (got,) = run_tflite(data, [fresh], dequantize=True)  # quantized on the way in
    step = out["quantization"][0]
    assert np.abs(want - got).max() <= step * 1.01


def _raises_writing_nothing(tmp_path, error, message, **options):
    target = tmp_path / "m.tflite"
    with pytest.raises(error, match=message):
        ferry.pytorch_to_tflite(
            cnn(),
            [torch.randn(1, 3, 32, 32)],
            quantize="int8",
            path=target,
            verbose=False,
            **options,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (None, ValueError, "needs calibration_data"),
        ([], ValueError, "calibration_data is empty"),
        (lambda: iter([]), ValueError, "calibration_data is empty"),
        (torch.randn(4, 3, 32, 32), TypeError, "is one tensor"),
        (
            [(torch.randn(1, 3, 32, 32),), (torch.randn(1, 3, 28, 28),)],
            ValueError,
            r"sample 1, input 'input_0': shape \(1, 3, 28, 28\).*\(1, 3, 32, 32\)",
        ),
        (
            [(torch.randn(1, 3, 32, 32), torch.randn(1))],
            TypeError,
            "sample 0: the arguments do not match.*too many positional arguments",
        ),
        ([(torch.randn(1, 3, 32, 32).double(),)], ValueError, "torch.float64"),
        ([3.0], TypeError, "sample 0 is a float"),
    ],
)
def test_bad_calibration_data_is_refused_before_any_work(tmp_path, data, error, message):
    _raises_writing_nothing(
        tmp_path, error, message + ".*nothing was written", calibration_data=data
    )


def test_a_callable_calibration_set_and_lone_tensors_are_taken():
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    samples = [torch.randn(1, 3, 32, 32) for _ in range(4)]
    a = convert(model, x, calibration_data=lambda: iter(samples))
    b = convert(model, x, calibration_data=[(s,) for s in samples])
    assert a == b


def test_calibration_leaves_the_model_and_inputs_as_they_were():
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    samples = calibration((1, 3, 32, 32), 4)
    before = [s[0].clone() for s in samples]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    convert(model, x, calibration_data=samples)
    assert all(torch.equal(a[0], b) for a, b in zip(samples, before))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("observer", ["percentile", "mse"])
def test_observers_other_than_minmax_narrow_the_ranges(observer):
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    plain = read(convert(model, x))[1]
    other = read(convert(model, x, observer=observer))[1]
    pairs = [
        (a.scales[0], b.scales[0])
        for a, b in zip(plain, other)
        if a.type == "INT8" and not a.constant and a.scales and b.scales
    ]
    assert pairs and all(b <= a * 1.0001 for a, b in pairs)
    assert any(b < a * 0.999 for a, b in pairs)


def test_range_observer_percentile_ignores_a_rare_outlier():
    values = np.linspace(-1, 1, 100_001).astype(np.float32)
    values[0] = -50.0
    observer = RangeObserver("percentile", updates=1, seed=0)
    observer.update(values)
    lo, hi = observer.range()
    assert -1.01 <= lo < -0.99 and 0.99 < hi <= 1.0
    minmax = RangeObserver("minmax", updates=1, seed=0)
    minmax.update(values)
    assert minmax.range() == (-50.0, 1.0)


def test_keep_float_runs_a_module_in_float_between_dequantize_and_quantize():
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptionNotUsedWarning)
        data = convert(model, x, keep_float=["10"])  # the classifier
    ops, tensors = read(data)
    (dense,) = [op for op in ops if op.name == "FULLY_CONNECTED"]
    assert dense.version == 1 and tensors[dense.inputs[1]].type == "FLOAT32"
    assert [op.name for op in ops][-3:] == ["DEQUANTIZE", "FULLY_CONNECTED", "QUANTIZE"] or [
        op.name for op in ops
    ][-2:] == ["DEQUANTIZE", "FULLY_CONNECTED"]
    with pytest.warns(OptionNotUsedWarning, match="'nothing.here' keeps nothing float"):
        convert(model, x, keep_float=["nothing.here"])


def test_an_op_without_int8_form_runs_in_float_and_says_so():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return torch.cos(y) + y

    torch.manual_seed(0)
    with pytest.warns(OptionNotUsedWarning, match="no int8 form here.*COS"):
        data = convert(Net().eval(), torch.randn(1, 3, 8, 8))
    names = [op.name for op in read(data)[0]]
    i = names.index("COS")
    assert names[i - 1] == "DEQUANTIZE" and names[i + 1] == "QUANTIZE"


def test_a_zero_initialised_classifier_still_loads_in_xnnpack():
    model = cnn()
    nn.init.zeros_(model[10].weight)
    nn.init.zeros_(model[10].bias)
    data = convert(model, torch.randn(1, 3, 32, 32))
    (got,) = run_tflite(data, [np.random.default_rng(0).standard_normal((1, 32, 32, 3))])
    assert np.all(got == 0)


class Tagger(nn.Module):
    """Token embeddings, a bidirectional LSTM and a per-token classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.lstm = nn.LSTM(32, 48, batch_first=True, bidirectional=True)
        self.out = nn.Linear(96, 10)

    def forward(self, tokens):
        return self.out(self.lstm(self.emb(tokens))[0])


def test_an_lstm_tagger_is_written_unrolled_and_integer_throughout():
    torch.manual_seed(0)
    model = Tagger().eval()
    g = torch.Generator().manual_seed(3)
    samples = [(torch.randint(0, 100, (1, 10), generator=g),) for _ in range(32)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptionNotUsedWarning)  # no float island, no option unused
        data = convert(model, torch.randint(0, 100, (1, 10)), calibration_data=samples)
    ops, tensors = read(data)
    names = [op.name for op in ops]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in names and names.count("DEQUANTIZE") == 1
    assert "QUANTIZE" not in names  # token ids come in as they are; the table is int8
    (gather,) = [op for op in ops if op.name == "GATHER"]
    assert tensors[gather.inputs[0]].type == "INT8"
    assert _params(tensors, gather.inputs[0]) == _params(tensors, gather.outputs[0])
    fresh = torch.randint(0, 100, (1, 10), generator=g)
    with torch.no_grad():
        expected = model(fresh).numpy()
    (got,) = run_tflite(data, [fresh.numpy()])
    assert sqnr(expected, got) >= 25  # 31-33 dB measured


def test_the_int8_cnn_is_one_xnnpack_partition_hard_swish_included():
    # XNNPACK has no int8 HARD_SWISH: it is written as ADD(+3, RELU6), MUL, MUL(1/6).
    data = convert(cnn(), torch.randn(1, 3, 32, 32))
    names = [op.name for op in read(data)[0]]
    assert "HARD_SWISH" not in names
    runner = interpreter(data)
    runner.allocate_tensors()
    delegated = [op["op_name"] for op in runner._get_ops_details()]
    assert delegated.count("DELEGATE") == 1


def test_the_html_report_lists_every_checked_call_worst_first(tmp_path):
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    page = tmp_path / "report.html"
    _, report = ferry.pytorch_to_tflite(
        model,
        [x],
        quantize="int8",
        calibration_data=calibration((1, 3, 32, 32)),
        return_report=True,
        verbose=False,
        save_trace_html=str(page),
    )
    rows = ferry.quantization_report(report, model)
    # Every call measured in real values: the int8 tensors dequantized by their scales.
    assert len(rows) >= 8 and all(20 < row.sqnr_db < 80 for row in rows)
    assert 30 < report.output_sqnr_db[0] < 80
    assert all(0.9 < row.cosine <= 1.0 for row in rows)
    text = page.read_text()
    table = text[text.index("<section id='quantization'>") :]
    assert table.count("<tr>") == len(rows) + 1  # a header and every row
    first = table.split("<tr>")[2]  # the worst comes first
    assert f"{rows[0].removable_db:.1f} dB" in first and f"{rows[0].own_sqnr_db:.1f} dB" in first


def test_int16x8_has_symmetric_16_bit_activations_and_64_bit_biases():
    model, x = cnn(), torch.randn(1, 3, 32, 32)
    samples = calibration((1, 3, 32, 32))
    data = bytes(
        ferry.pytorch_to_tflite(
            model, [x], quantize="int16x8", calibration_data=samples, verbose=False
        )
    )
    ops, tensors = read(data)
    assert ops[0].name == "QUANTIZE" and ops[-1].name == "DEQUANTIZE"
    assert (ops[0].version, ops[-1].version) == (2, 3)  # float <-> int16
    for op in ops[1:-1]:
        assert op.name not in ("QUANTIZE", "DEQUANTIZE")
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            source, kernel, bias = (tensors[i] for i in op.inputs[:3])
            assert (source.type, kernel.type, bias.type) == ("INT16", "INT8", "INT64")
            assert np.allclose(bias.scales, source.scales[0] * np.array(kernel.scales))
    computed = [t for t in tensors if not t.constant and t.type == "INT16"]
    assert computed and all(t.zero_points == [0] for t in computed)
    model_fb = schema.Model.GetRootAs(data, 0)
    graph = model_fb.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if op.BuiltinOptionsType() == schema.BuiltinOptions.AddOptions:
            options = schema.AddOptions()
            options.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            assert not options.PotScaleInt16()  # any scales, not powers of two
    g = torch.Generator().manual_seed(7)
    fresh = torch.randn(1, 3, 32, 32, generator=g)
    with torch.no_grad():
        expected = model(fresh).numpy()
    eight = convert(model, x, calibration_data=samples)
    (got16,) = run_tflite(data, [fresh.permute(0, 2, 3, 1).numpy()])
    (got8,) = run_tflite(eight, [fresh.permute(0, 2, 3, 1).numpy()])
    assert sqnr(expected, got16) >= sqnr(expected, got8) + 3
