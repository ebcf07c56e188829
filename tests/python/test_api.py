"""pytorch_to_keras options and user-facing hooks: user converters for modules, order hints,
names, several inputs and outputs, unused branches, IR dumps, the HTML trace."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from torch import nn

import ferry
from ferry import ChannelOrder, ChannelOrderingStrategy

torch.manual_seed(0)


def convert(module, args, **kwargs):
    kwargs.setdefault("verbose", False)
    return ferry.pytorch_to_keras(module.eval(), args=args, **kwargs)


# --- a user converter for a module class ------------------------------------------------


class SpaceToDepth(nn.Module):
    """PyTorch's version of tf.nn.space_to_depth: pixel_unshuffle, whose output channel is
    c * b * b + (i * b + j), then channels reordered to TF's (i * b + j) * C + c."""

    def __init__(self, block_size: int):
        super().__init__()
        self.block_size = block_size

    def forward(self, input):
        b = self.block_size
        x = F.pixel_unshuffle(input, b)
        n, c, h, w = x.shape
        return x.view(n, c // (b * b), b * b, h, w).transpose(1, 2).reshape(n, c, h, w)


def space_to_depth_reference(x: torch.Tensor, b: int) -> torch.Tensor:
    """tf.nn.space_to_depth in NCHW terms, written out: out[n, (i*b + j)*C + c, h, w] is
    x[n, c, h*b + i, w*b + j]."""
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // b, b, w // b, b)  # n, c, h, i, w, j
    return blocks.permute(0, 3, 5, 1, 2, 4).reshape(n, b * b * c, h // b, w // b)


@pytest.fixture
def space_to_depth_converter():
    @ferry.converter(
        SpaceToDepth, channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER
    )
    def convert_space_to_depth(self, input: torch.Tensor):
        return lambda input: tf.nn.space_to_depth(input, self.block_size)

    yield convert_space_to_depth
    ferry.unregister_converter(SpaceToDepth)


def test_space_to_depth_module_is_what_tf_computes():
    x = torch.randn(2, 3, 8, 4)
    torch.testing.assert_close(SpaceToDepth(2)(x), space_to_depth_reference(x, 2), rtol=0, atol=0)


def test_without_its_converter_the_module_converts_through_its_calls(compare):
    # pixel_unshuffle, view, transpose and reshape, each by its built-in rule.
    model = compare(SpaceToDepth(2), lambda: [torch.randn(1, 3, 8, 8)])
    x = torch.randn(1, 3, 8, 8)
    expected = space_to_depth_reference(x, 2)
    np.testing.assert_allclose(np.asarray(model(x.numpy())), expected.numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels_last", [False, True], ids=["pt", "tf"])
def test_user_converter_for_a_module_class(space_to_depth_converter, channels_last, compare):
    model = compare(SpaceToDepth(2), lambda: [torch.randn(1, 3, 8, 8)], channels_last=channels_last)
    x = torch.randn(1, 3, 8, 8)
    expected = space_to_depth_reference(x, 2)
    if channels_last:
        got = np.asarray(model(x.permute(0, 2, 3, 1).numpy())).transpose(0, 3, 1, 2)
    else:
        got = np.asarray(model(x.numpy()))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels_last", [False, True], ids=["pt", "tf"])
def test_user_converter_for_a_module_inside_a_model(
    space_to_depth_converter, channels_last, compare
):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), SpaceToDepth(2), nn.ReLU(), nn.Conv2d(16, 5, 1))
    compare(model, lambda: [torch.randn(1, 3, 8, 8)], channels_last=channels_last)


# --- order hints --------------------------------------------------------------------------


class Hinted(nn.Module):
    def __init__(self, hints: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.hints = hints

    def forward(self, x):
        x = self.conv(x)
        if self.hints:
            x = ferry.force_pytorch_order(x)
        x = torch.sigmoid(x) * x[:, :1]
        if self.hints:
            x = ferry.force_tensorflow_order(x)
        x = x.mean(1, keepdim=True) - x
        if self.hints:
            x = ferry.force_pytorch_order(x)
        return x.flatten(2)


@pytest.mark.parametrize("channels_last", [False, True], ids=["pt", "tf"])
def test_order_hints_do_not_change_values(channels_last, compare):
    module = Hinted().eval()
    plain = Hinted(hints=False).eval()
    plain.load_state_dict(module.state_dict())
    hinted_model = compare(module, lambda: [torch.randn(1, 3, 8, 8)], channels_last=channels_last)
    plain_model = compare(plain, lambda: [torch.randn(1, 3, 8, 8)], channels_last=channels_last)
    x = torch.randn(1, 3, 8, 8)
    x_in = x.permute(0, 2, 3, 1).numpy() if channels_last else x.numpy()
    np.testing.assert_allclose(
        np.asarray(hinted_model(x_in)), np.asarray(plain_model(x_in)), atol=1e-6, rtol=0
    )


def test_order_hints_take_effect(capsys):
    convert(Hinted(), [torch.randn(1, 3, 8, 8)], dump_ir=True, verbose=True)
    captured = capsys.readouterr()
    lowered = captured.err.split("--- IR after lower ---")[1].split("--- IR after")[0]
    assert lowered.count('force="pytorch"') == 2 and lowered.count('force="tensorflow"') == 1
    hints = [line for line in captured.out.splitlines() if "ferry.hints.force_" in line]
    assert len(hints) == 3 and all("✓" in line for line in hints), captured.out
    # Each hint's input is in the order it asks for when the layout stage is done.
    layout = captured.err.split("--- IR after layout ---")[1].split("--- IR after")[0]
    hinted = [line for line in layout.splitlines() if "force=" in line]
    assert len(hinted) == 3, layout
    for line in hinted:
        operand = re.search(r"identity\((%\w+)\)", line).group(1)
        producer = next(x for x in layout.splitlines() if x.strip().startswith(operand + ":"))
        assert ("channels_last" in producer) == ('force="tensorflow"' in line), layout


def test_order_hints_are_identities_in_pytorch():
    x = torch.randn(2, 3, 4, 4)
    for hint in (ferry.force_tensorflow_order, ferry.force_pytorch_order):
        y = hint(x)
        assert torch.equal(y, x) and y.data_ptr() == x.data_ptr()


# --- return_outputs_pt, names, several inputs and outputs ----------------------------------


def test_return_outputs_pt_gives_the_modules_outputs():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    result = convert(module, [x], return_outputs_pt=True)
    assert isinstance(result, tuple) and len(result) == 2
    keras_model, outputs = result
    with torch.no_grad():
        assert torch.equal(outputs, module(x))
    assert len(keras_model.outputs) == 1


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image, bias):
        features = self.conv(image) + bias
        return features, torch.flatten(features.mean((2, 3)), 1)


def test_return_outputs_pt_with_a_tuple():
    module = TwoInTwoOut().eval()
    args = [torch.randn(1, 3, 8, 8), torch.randn(1, 4, 1, 1)]
    _, outputs = convert(module, args, return_outputs_pt=True)
    with torch.no_grad():
        expected = module(*args)
    assert isinstance(outputs, tuple) and len(outputs) == 2
    for got, want in zip(outputs, expected):
        assert torch.equal(got, want)


def test_input_and_output_names():
    model = convert(
        TwoInTwoOut(),
        [torch.randn(1, 3, 8, 8), torch.randn(1, 4, 1, 1)],
        input_names=["image", "bias"],
        output_names=["features", "pooled"],
    )
    assert [t.name for t in model.inputs] == ["image", "bias"]
    assert list(model.output_names) == ["features", "pooled"]


@pytest.mark.parametrize("channels_last", [False, True], ids=["pt", "tf"])
def test_several_inputs_and_tuple_outputs(channels_last, compare):
    model = compare(
        TwoInTwoOut(),
        lambda: [torch.randn(1, 3, 8, 8), torch.randn(1, 4, 1, 1)],
        channels_last=channels_last,
    )
    assert len(model.inputs) == 2 and len(model.outputs) == 2


def test_three_inputs_three_outputs_with_an_input_returned(compare):
    def fn(a, b, c):
        return a * b, c, (a - c).abs()

    compare(fn, lambda: [torch.randn(2, 5), torch.randn(5), torch.randn(2, 5)])


# --- unused branches ------------------------------------------------------------------------


class UnusedBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        unused = torch.special.i0(y) + torch.sin(y)  # computed, never returned
        del unused
        return torch.relu(y)


def test_unused_branch_with_an_unconvertible_op_is_reported_unused(capsys, compare):
    compare(UnusedBranch(), lambda: [torch.randn(1, 3, 8, 8)])
    convert(UnusedBranch(), [torch.randn(1, 3, 8, 8)], verbose=True)
    tree = capsys.readouterr().out
    i0_lines = [line for line in tree.splitlines() if "i0" in line]
    assert i0_lines and any("·" in line for line in i0_lines), tree
    assert "no converter" not in tree


# --- IR dump and HTML trace -----------------------------------------------------------------


def test_dump_ir_prints_every_stage_to_stderr(capsys):
    convert(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), [torch.randn(1, 3, 8, 8)], dump_ir=True)
    err = capsys.readouterr().err
    stages = re.findall(r"--- IR after (\w+) ---", err)
    assert stages == ["import", "lower", "layout", "cleanup"], stages
    assert "conv" in err


def test_save_trace_html_writes_a_self_contained_page(tmp_path):
    path = tmp_path / "trace.html"
    convert(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish()),
        [torch.randn(1, 3, 8, 8)],
        save_trace_html=str(path),
    )
    page = path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in page and "Conv2d" in page and "hardswish" in page.lower()
    # Self-contained: nothing fetched from anywhere (scripts and styles are inline); links
    # go to the page's own nodes or to the user's source files.
    assert not re.search(r"<link|<img|<iframe|\ssrc\s*=|@import|url\(", page, re.IGNORECASE)
    links = re.findall(r"href='([^']*)'", page)
    assert all(h.startswith(("#n", "file:///")) for h in links), links


def test_inputs_channel_order_default_is_tensorflow():
    model = convert(nn.Conv2d(3, 4, 3), [torch.randn(1, 3, 8, 8)])
    assert tuple(model.inputs[0].shape) == (1, 8, 8, 3)
    model = convert(
        nn.Conv2d(3, 4, 3), [torch.randn(1, 3, 8, 8)], inputs_channel_order=ChannelOrder.PYTORCH
    )
    assert tuple(model.inputs[0].shape) == (1, 3, 8, 8)


# --- models defined where Python keeps no source ----------------------------------------------


def test_model_defined_in_a_notebook_converts(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    notebook_model = type("NotebookModel", (nn.Module,), {"forward": lambda self, x: x.relu()})
    notebook_model.__module__ = "__main__"
    convert(notebook_model(), [torch.randn(1, 3, 4, 4)])
