"""Semantic segmentation (torchvision, random weights): DeepLabV3-ResNet50 end to end.

It brings what classification models do not: dilated convolutions, ASPP's image pooling
branch upsampled back from 1x1, a bilinear resize of the logits to the input size, dropout
in eval mode, and a dict output ({"out": logits}) whose key names the Keras output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .torchvision_import import import_torchvision

torchvision = import_torchvision()

import ferry  # noqa: E402

TOLERANCE = 1e-4
# 128x128 rather than 224x224 keeps the test at about half the time; the output stride is 8,
# so ASPP still sees a 16x16 map and every resize is a real one.
SIZE = 128


def _build() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, aux_loss=False
    )
    # Random BN statistics, so batch norm is exercised (fresh models have mean 0, var 1).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.slow
def test_deeplabv3_resnet50_matches_pytorch():
    model = _build()
    keras_model = ferry.pytorch_to_keras(
        model,
        args=[torch.rand(1, 3, SIZE, SIZE)],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    assert keras_model.output_names == ["out"]
    fresh = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = model(fresh)["out"].permute(0, 2, 3, 1).numpy()
    got = np.asarray(keras_model(fresh.permute(0, 2, 3, 1).numpy()))
    assert got.shape == expected.shape == (1, SIZE, SIZE, 21)
    # With random BN statistics the backbone's activations reach ~2e3 and the logits ~2e1;
    # float32 rounding through 50 layers alone is then ~5e-5 absolute: the bound scales
    # with the output's magnitude, as for ResNet-50 in test_torchvision.py.
    bound = TOLERANCE * max(1.0, float(np.abs(expected).max()) / 10)
    assert np.abs(got - expected).max() <= bound
