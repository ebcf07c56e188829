"""nobuco's README, section "Channel order wizardry": a GRU feeding two Conv1d."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from models.gru_conv1d import GruTwoConv1d

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


# The README's own implementation of the hint, decorated as it shows.
@nobuco.traceable
def force_tensorflow_order(inputs):
    return inputs


@nobuco.converter(
    force_tensorflow_order,
    channel_ordering_strategy=ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER,
)
def converter_force_tensorflow_order(inputs):
    return lambda inputs: inputs


class ReadmeHinted(GruTwoConv1d):
    def forward(self, x):
        x, hx = self.gru(x)
        x = force_tensorflow_order(x)
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        return x1, x2


class FerryHinted(GruTwoConv1d):
    def forward(self, x):
        x, hx = self.gru(x)
        x = nobuco.force_tensorflow_order(x)
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        return x1, x2


def readme_inputs():
    return [torch.normal(0, 1, size=(1, 12, 32))]


@pytest.mark.parametrize("module", [GruTwoConv1d, ReadmeHinted, FerryHinted])
def test_converts_exactly(module, capsys):
    pytorch_module = module().eval()
    keras_model = nobuco.pytorch_to_keras(
        pytorch_module,
        readme_inputs(),
        inputs_channel_order=ChannelOrder.PYTORCH,
    )
    x = readme_inputs()[0]
    with torch.no_grad():
        expected = pytorch_module(x)
    got = keras_model(x.numpy())
    assert len(got) == 2
    for e, g in zip(expected, got):
        e, g = e.numpy(), np.asarray(g)
        # Outputs keep the order the converter chose for them (no outputs_channel_order):
        # Conv1d's [N, C, L] may come out channels-last.
        if g.shape != e.shape:
            e = np.moveaxis(e, 1, -1)
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)
    if module is ReadmeHinted:
        tree = capsys.readouterr().out
        hint = [line for line in tree.splitlines() if "force_tensorflow_order" in line]
        assert hint and "✓" in hint[0], tree  # the hint is a node, converted by its converter


@pytest.mark.parametrize("module", [GruTwoConv1d, ReadmeHinted, FerryHinted])
def test_one_transpose_serves_both_convolutions(module):
    summary = nobuco.layout_summary(
        module().eval(), readme_inputs(), inputs_channel_order=ChannelOrder.PYTORCH
    )
    # The GRU output is read channels-last by both convs: one transpose serves both, with
    # or without the hint (node by node, nobuco needs the hint to get from two to one).
    assert summary.transposes == 1
    assert summary.bytes_moved == 1 * 12 * 128 * 4
    assert summary.exact


def test_the_readme_hint_constrains_the_order_of_its_input(capsys):
    # The user's converter is a node whose FORCE_TENSORFLOW_ORDER strategy the layout stage
    # honours: its operand is channels-last once the order is solved.
    nobuco.pytorch_to_keras(
        ReadmeHinted().eval(),
        readme_inputs(),
        inputs_channel_order=ChannelOrder.PYTORCH,
        dump_ir=True,
        verbose=False,
    )
    layout = capsys.readouterr().err.split("--- IR after layout ---")[1].split("--- IR after")[0]
    (user,) = [line for line in layout.splitlines() if "= user(" in line]
    assert 'strategy="force_tensorflow_order"' in user, user
    operand = re.search(r"user\((%\w+)", user).group(1)
    producer = next(x for x in layout.splitlines() if x.strip().startswith(operand + ":"))
    assert "channels_last" in producer, layout
