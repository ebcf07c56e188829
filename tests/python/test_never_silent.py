"""Never silent: wrong results raise, unused converters are reported, bad input is refused
with a clear message before any work, and nothing of the user's changes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn as nn
import torch.nn.functional as F

import ferry
from ferry import ChannelOrderingStrategy


class ConvHardsigmoidConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3)
        self.second = nn.Conv2d(8, 8, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        x = F.hardsigmoid(self.first(x))
        return torch.relu(self.second(x))


def image() -> torch.Tensor:
    return torch.rand(1, 3, 16, 16)


@pytest.fixture
def sigmoid_for_hardsigmoid():
    @ferry.converter(F.hardsigmoid)
    def wrong(input, inplace=False):
        return lambda input, inplace=False: tf.sigmoid(input)

    yield wrong
    ferry.unregister_converter(F.hardsigmoid)


@pytest.fixture
def identity_for_hardsigmoid():
    # Hands its argument back: written as an identity in .tflite, and wrong.
    @ferry.converter(F.hardsigmoid)
    def wrong(input, inplace=False):
        return lambda input, inplace=False: input

    yield wrong
    ferry.unregister_converter(F.hardsigmoid)


# --- wrong results ------------------------------------------------------------------------


def test_keras_raises_and_names_the_first_divergent_call(sigmoid_for_hardsigmoid, capsys):
    with pytest.raises(ferry.ValidationError) as err:
        ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()], verbose=False)
    report = err.value.report
    assert not report.ok and report.failed_outputs == [0]
    assert report.first_divergent.op == "torch.nn.functional.hardsigmoid"
    assert [c.op for c in report.divergent] == ["torch.nn.functional.hardsigmoid"]
    # The convolution and relu after it fail only because they read its result.
    assert len(report.inherited) == 2
    assert all(report.nodes[n].op != report.first_divergent.op for n in report.inherited)
    assert "first divergent call: torch.nn.functional.hardsigmoid" in str(err.value)
    assert capsys.readouterr().out == ""  # verbose=False: nothing printed, still raised


@pytest.mark.parametrize("path", [False, True])
def test_tflite_raises_and_names_the_first_divergent_call(identity_for_hardsigmoid, tmp_path, path):
    target = tmp_path / "m.tflite"
    with pytest.raises(ferry.ValidationError) as err:
        ferry.pytorch_to_tflite(
            ConvHardsigmoidConv().eval(),
            [image()],
            path=str(target) if path else None,
            verbose=False,
        )
    assert not err.value.report.ok
    assert err.value.report.first_divergent.op == "torch.nn.functional.hardsigmoid"
    assert os.listdir(tmp_path) == []  # no file, no leftover temporary


def test_the_tree_shows_inherited_errors(sigmoid_for_hardsigmoid, capsys):
    with pytest.raises(ferry.ValidationError):
        ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()])
    tree = capsys.readouterr().out
    assert "inherits error from torch.nn.functional.hardsigmoid" in tree
    assert "first divergent call" in tree
    assert tree.count("≠") == 1 + tree.count("≠ beyond tolerance")  # one own failure


def test_on_mismatch_warn_returns_the_result_and_its_report(sigmoid_for_hardsigmoid):
    with pytest.warns(ferry.ValidationWarning, match="hardsigmoid"):
        model, report = ferry.pytorch_to_keras(
            ConvHardsigmoidConv().eval(),
            [image()],
            verbose=False,
            on_mismatch="warn",
            return_report=True,
        )
    assert not report.ok and report.worst_node is not None
    assert model is not None


def test_a_faithful_conversion_reports_ok_on_both_paths():
    module = ConvHardsigmoidConv().eval()
    _, report = ferry.pytorch_to_keras(module, [image()], verbose=False, return_report=True)
    assert report.ok and report.first_divergent is None and not report.inherited
    _, report = ferry.pytorch_to_tflite(module, [image()], verbose=False, return_report=True)
    assert report.ok and report.first_divergent is None


def test_a_bad_mismatch_policy_is_refused():
    with pytest.raises(ValueError, match="on_mismatch"):
        ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()], on_mismatch="ignore")


# --- converters that are not used ---------------------------------------------------------


def doubled(x):
    return x * 2


class CallsTraceableDoubled(nn.Module):
    def forward(self, x):
        return ferry.traceable(doubled)(x) + 1


def test_a_converter_for_the_undecorated_function_is_reported():
    @ferry.converter(doubled)  # the plain function; the model calls a traceable wrapper
    def convert_doubled(x):
        return lambda x: x * 2

    try:
        with pytest.warns(ferry.ConverterNotUsedWarning, match="doubled"):
            ferry.pytorch_to_keras(CallsTraceableDoubled(), [torch.rand(2, 3)], verbose=False)
    finally:
        ferry.unregister_converter(doubled)


def test_a_converter_for_an_op_the_trace_never_meets_is_fine(recwarn):
    @ferry.converter(torch.cumsum)
    def convert_cumsum(input, dim):
        return lambda input, dim: tf.cumsum(input, dim)

    try:
        ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()], verbose=False)
    finally:
        ferry.unregister_converter(torch.cumsum)
    assert not [w for w in recwarn if issubclass(w.category, ferry.ConverterNotUsedWarning)]


# --- bad input, refused before any work ---------------------------------------------------


def test_numpy_inputs_are_refused_before_the_model_runs():
    module = ConvHardsigmoidConv().eval()
    with pytest.raises(TypeError, match=r"args\[0\] is a numpy.ndarray.*torch.from_numpy"):
        ferry.pytorch_to_keras(module, [np.zeros((1, 3, 16, 16), np.float32)])
    assert module.calls == 0


def test_a_complex_model_output_names_the_call():
    class Spectrum(nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x)

    with pytest.raises(ferry.ConversionError, match=r"output 0 .*complex.*_fft_r2c"):
        ferry.pytorch_to_keras(Spectrum(), [torch.rand(1, 8)], verbose=False)


@pytest.mark.parametrize(
    "name, message",
    [("missing/m.tflite", "does not exist"), ("m.onnx", "must end in .tflite")],
)
def test_a_bad_tflite_path_fails_before_tracing(tmp_path, name, message):
    module = ConvHardsigmoidConv().eval()
    with pytest.raises(ValueError, match=message):
        ferry.pytorch_to_tflite(module, [image()], path=str(tmp_path / name))
    assert module.calls == 0 and os.listdir(tmp_path) == []


def test_a_bad_html_report_path_fails_before_tracing(tmp_path):
    module = ConvHardsigmoidConv().eval()
    with pytest.raises(ValueError, match="does not exist"):
        ferry.pytorch_to_keras(
            module, [image()], save_trace_html=str(tmp_path / "no" / "trace.html")
        )
    assert module.calls == 0


def test_a_report_that_cannot_be_written_never_costs_the_model(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ferry.verdict.write_html", broken)
    with pytest.warns(UserWarning, match="disk full"):
        model = ferry.pytorch_to_keras(
            ConvHardsigmoidConv().eval(), [image()], save_trace_html=str(tmp_path / "t.html")
        )
    assert model is not None


def test_tflite_with_a_keras_only_converter_is_refused_before_converting(
    sigmoid_for_hardsigmoid, tmp_path
):
    target = tmp_path / "m.tflite"
    with pytest.raises(ferry.ConversionError) as err:
        ferry.pytorch_to_tflite(ConvHardsigmoidConv().eval(), [image()], path=str(target))
    message = str(err.value)
    assert "torch.nn.functional.hardsigmoid" in message and __file__ in message
    assert "pytorch_to_keras" in message and "TFLiteConverter" in message
    assert os.listdir(tmp_path) == []


def test_tflite_writes_an_identity_converter_as_an_order_hint():
    # nobuco's README pair: a traceable identity with a FORCE_TENSORFLOW_ORDER converter.
    @ferry.traceable
    def keep_channels_last(inputs):
        return inputs

    @ferry.converter(
        keep_channels_last, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
    )
    def converter(inputs):
        return lambda inputs: inputs

    class Hinted(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(12, 8, 1)

        def forward(self, x):
            return self.conv(keep_channels_last(x)).flatten(1)

    module = Hinted().eval()
    x = torch.rand(1, 12, 32)
    data = ferry.pytorch_to_tflite(
        module, [x], inputs_channel_order=ferry.ChannelOrder.PYTORCH, verbose=False
    )
    fresh = torch.rand(1, 12, 32)
    got = ferry.tflite.run_tflite(data, [fresh.numpy()])[0]
    np.testing.assert_allclose(got, module(fresh).detach().numpy(), atol=1e-5, rtol=0)


# --- the user's objects stay as they were -------------------------------------------------


def test_training_mode_is_refused_before_anything_runs_naming_every_module():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Conv2d(4, 4, 1)
    ).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ferry.ConversionError) as err:
        ferry.pytorch_to_keras(model, [torch.rand(2, 3, 4, 4)], verbose=False)
    message = str(err.value)
    assert "1 (BatchNorm2d" in message and "2 (Dropout" in message and "eval()" in message
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats untouched


def test_example_inputs_are_not_changed_by_an_in_place_model():
    class Doubles(nn.Module):
        def forward(self, x):
            x.mul_(2)
            return x + 1

    x = torch.rand(1, 3)
    before = x.clone()
    ferry.pytorch_to_tflite(Doubles(), [x], verbose=False)
    ferry.pytorch_to_keras(Doubles(), [x], verbose=False)
    assert torch.equal(x, before)


# --- batch size: the traced one, said at the input ----------------------------------------


def test_another_batch_size_fails_at_the_input_with_a_message():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 5)).eval()
    keras_model = ferry.pytorch_to_keras(module, [torch.rand(2, 3, 16, 16)], verbose=False)
    assert tuple(keras_model.inputs[0].shape) == (2, 16, 16, 3)
    with pytest.raises(ValueError, match=r"converted for \(2, 16, 16, 3\)"):
        keras_model(np.zeros((3, 16, 16, 3), np.float32))
    data = ferry.pytorch_to_tflite(module, [torch.rand(2, 3, 16, 16)], verbose=False)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        ferry.tflite.run_tflite(data, [np.zeros((3, 16, 16, 3), np.float32)])


def test_the_saved_model_signature_shows_the_traced_batch(tmp_path):
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    keras_model = ferry.pytorch_to_keras(module, [torch.rand(2, 3, 8, 8)], verbose=False)
    keras_model.export(str(tmp_path / "saved"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert tuple(spec.shape) == (2, 8, 8, 3)


# --- what is printed ----------------------------------------------------------------------


def test_quiet_prints_nothing(capsys):
    ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()], verbose=False)
    ferry.pytorch_to_tflite(ConvHardsigmoidConv().eval(), [image()], verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_stages_are_announced_and_failures_mode_prints_no_tree_when_all_is_well(capsys):
    ferry.pytorch_to_tflite(ConvHardsigmoidConv().eval(), [image()], verbose="failures")
    captured = capsys.readouterr()
    assert captured.out == ""
    stages = [line for line in captured.err.splitlines() if line.startswith("ferry: ")]
    assert [s.split()[1] for s in stages] == ["converting", "tracing", "converting", "validating"]


def test_failures_mode_prints_only_the_failing_part(sigmoid_for_hardsigmoid, capsys):
    with pytest.raises(ferry.ValidationError):
        ferry.pytorch_to_keras(ConvHardsigmoidConv().eval(), [image()], verbose="failures")
    tree = capsys.readouterr().out
    assert "hardsigmoid" in tree
    assert "Conv2d[first]" not in tree  # converted and fine: not shown


def test_importing_the_keras_back_end_prints_no_tensorflow_start_up_noise():
    code = "import ferry.keras, tensorflow as tf; tf.constant(1.0) + 1"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_a_large_model_shows_a_progress_bar_over_its_checks(capsys):
    class Deep(nn.Module):
        def forward(self, x):
            for i in range(260):
                x = torch.tanh(x * 0.9 + i * 1e-3)
            return x

    ferry.pytorch_to_tflite(Deep(), [torch.rand(2, 8)])
    err = capsys.readouterr().err
    assert "ferry: checking" in err and "call" in err
