"""Real torchvision architectures (random weights): Keras matches PyTorch on fresh inputs,
and survives a .keras round trip and a SavedModel export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.torchvision_import import import_torchvision, random_model

torchvision = import_torchvision()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import ferry  # noqa: E402

TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v3_large"])
def converted(request):
    model = random_model(request.param)
    keras_model = ferry.pytorch_to_keras(
        model,
        args=[torch.rand(1, 3, 224, 224)],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    fresh = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(fresh).numpy()
    return request.param, model, keras_model, fresh.permute(0, 2, 3, 1).numpy(), expected


def test_keras_matches_pytorch_on_a_fresh_input(converted):
    _, _, keras_model, x, expected = converted
    got = np.asarray(keras_model(x))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


def test_every_node_was_checked_and_accurate(converted):
    _, _, keras_model, _, _ = converted
    report = keras_model.ferry_report
    assert report.nodes, "full validation checked no node"
    worst = max(check.max_abs for check in report.nodes.values())
    assert worst <= TOLERANCE


def test_native_layers_carry_keras_weight_conventions(converted):
    name, model, keras_model, _, _ = converted
    first_conv = "conv1" if name == "resnet18" else "features.0.0"
    first_bn = "bn1" if name == "resnet18" else "features.0.1"
    kernel, *rest = keras_model.get_layer(first_conv).get_weights()
    torch_conv = model.get_submodule(first_conv)
    np.testing.assert_array_equal(kernel, torch_conv.weight.detach().numpy().transpose(2, 3, 1, 0))
    gamma, beta, mean, var = keras_model.get_layer(first_bn).get_weights()
    bn = model.get_submodule(first_bn)
    np.testing.assert_array_equal(mean, bn.running_mean.numpy())
    np.testing.assert_array_equal(var, bn.running_var.numpy())
    np.testing.assert_array_equal(gamma, bn.weight.detach().numpy())


def test_keras_file_round_trip(converted, tmp_path):
    _, _, keras_model, x, expected = converted
    path = tmp_path / "model.keras"
    keras_model.save(path)
    loaded = keras.models.load_model(path)
    assert np.abs(np.asarray(loaded(x)) - expected).max() <= TOLERANCE


def test_saved_model_export(converted, tmp_path):
    _, _, keras_model, x, expected = converted
    keras_model.export(str(tmp_path / "saved"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    got = loaded.serve(tf.constant(x))
    assert np.abs(np.asarray(got) - expected).max() <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_more_architectures_match_pytorch(name):
    model = random_model(name)
    keras_model = ferry.pytorch_to_keras(
        model,
        args=[torch.rand(1, 3, 224, 224)],
        inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        outputs_channel_order=ferry.ChannelOrder.PYTORCH,
        verbose=False,
    )
    fresh = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(fresh).numpy()
    got = np.asarray(keras_model(fresh.numpy()))
    # With random BN statistics ResNet-50's logits reach ~1e2, where float32 rounding of
    # 50 layers alone is ~1e-4 absolute: the bound scales with the output's magnitude.
    assert np.abs(got - expected).max() <= TOLERANCE * max(1.0, float(np.abs(expected).max()) / 10)
