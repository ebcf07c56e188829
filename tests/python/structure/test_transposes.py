"""Channel order is solved globally: transpose counts asserted exactly (no Keras needed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from models.torchvision_import import import_torchvision

import ferry
from ferry import ChannelOrder

TF, PT = ChannelOrder.TENSORFLOW, ChannelOrder.PYTORCH


@pytest.fixture(scope="module")
def torchvision():
    return import_torchvision()


CNNS = ["mobilenet_v3_large", "resnet50"]


@pytest.mark.parametrize("name", CNNS)
def test_cnn_with_tensorflow_order_io_has_no_transpose(torchvision, name):
    model = getattr(torchvision.models, name)(weights=None).eval()
    summary = ferry.layout_summary(
        model, [torch.rand(1, 3, 224, 224)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    assert summary.transposes == 0
    assert summary.exact


@pytest.mark.parametrize("name", CNNS)
def test_cnn_with_pytorch_order_io_has_one_transpose_per_input(torchvision, name):
    model = getattr(torchvision.models, name)(weights=None).eval()
    summary = ferry.layout_summary(
        model, [torch.rand(1, 3, 224, 224)], inputs_channel_order=PT, outputs_channel_order=PT
    )
    # One for the image; the logits are [1, 1000], identical in both orders, so the output
    # needs none (a 4-D output would need exactly one: see the segmentation test).
    assert summary.transposes == 1
    assert summary.bytes_moved == 3 * 224 * 224 * 4


def test_solved_order_never_costs_more_than_node_by_node(torchvision):
    model = torchvision.models.resnet18(weights=None).eval()
    for order in (TF, PT):
        summary = ferry.layout_summary(
            model,
            [torch.rand(1, 3, 64, 64)],
            inputs_channel_order=order,
            outputs_channel_order=order,
        )
        assert summary.bytes_moved <= summary.node_by_node_bytes
        assert summary.bytes_moved < summary.all_pytorch_bytes


@pytest.mark.slow
def test_deeplabv3_transposes(torchvision):
    model = torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=False
    ).eval()
    x = [torch.rand(1, 3, 128, 128)]
    tf_io = ferry.layout_summary(model, x, inputs_channel_order=TF, outputs_channel_order=TF)
    assert tf_io.transposes == 0
    pt_io = ferry.layout_summary(model, x, inputs_channel_order=PT, outputs_channel_order=PT)
    # One for the image in, one for the [1, 21, 128, 128] mask out.
    assert pt_io.transposes == 2
    assert pt_io.bytes_moved == (3 + 21) * 128 * 128 * 4


def test_vit_like_model_needs_only_the_attention_head_transposes():
    from models.test_vit import BLOCKS, TinyViT

    summary = ferry.layout_summary(
        TinyViT().eval(), [torch.rand(1, 3, 64, 64)], inputs_channel_order=TF
    )
    # Each attention layer splits q, k and v into heads ([B, N, h, d] -> [B, h, N, d]) and
    # merges them back: 4 transposes that move data in any order (k's own transpose folds into
    # the matmul). The patch embedding's flatten(2).transpose(1, 2) after the channels-last conv
    # is free: in channels-last order it is a plain reshape.
    assert summary.transposes == 4 * BLOCKS
    assert summary.transposes < summary.node_by_node_transposes
    assert summary.exact


def test_transformer_encoder_needs_only_the_attention_head_transposes():
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    summary = ferry.layout_summary(
        encoder, [torch.rand(2, 10, 64)], inputs_channel_order=PT, outputs_channel_order=PT
    )
    # 4 per layer, as above; tokens [B, N, C] are read by dense layers in PyTorch order, so
    # nothing else is ever transposed.
    assert summary.transposes == 4 * 2
    assert summary.exact


@pytest.mark.parametrize(
    "dims, conv, bn, pool",
    [
        (1, nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
        (2, nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
        (3, nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d),
    ],
)
def test_every_rank_is_solved_alike(dims, conv, bn, pool):
    model = nn.Sequential(conv(3, 8, 3, padding=1), bn(8), nn.ReLU(), pool(2), conv(8, 4, 1)).eval()
    x = [torch.rand(1, 3, *([8] * dims))]
    assert (
        ferry.layout_summary(model, x, inputs_channel_order=TF, outputs_channel_order=TF).transposes
        == 0
    )
    mixed = ferry.layout_summary(model, x, inputs_channel_order=PT, outputs_channel_order=PT)
    assert mixed.transposes == 2  # in and out, whatever the rank
    assert mixed.bytes_moved == (3 * 8**dims + 4 * 4**dims) * 4
