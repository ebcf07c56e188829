"""Shared helpers: convert a module, then compare with PyTorch on fresh inputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Wrap(torch.nn.Module):
    """Turns a function of tensors into a module for one-line op tests."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


def to_tf_order(x: torch.Tensor, channels_last: bool) -> np.ndarray:
    a = x.detach().numpy()
    if channels_last and a.ndim >= 3:
        a = np.moveaxis(a, 1, -1)
    return a


def convert_and_compare(
    module: torch.nn.Module | Callable[..., torch.Tensor],
    make_inputs: Callable[[], Sequence[torch.Tensor]],
    *,
    tol: float = 1e-5,
    channels_last: bool = False,
    **kwargs,
):
    """Converts with inputs from `make_inputs()`, then checks a second, fresh set of inputs.

    Returns the Keras model. Outputs are compared in PyTorch order (moved back if the
    converted model produces channels-last).
    """
    import ferry

    if not isinstance(module, torch.nn.Module):
        module = Wrap(module)
    module = module.eval()
    order = ferry.ChannelOrder.TENSORFLOW if channels_last else ferry.ChannelOrder.PYTORCH
    trace_inputs = list(make_inputs())
    keras_model = ferry.pytorch_to_keras(
        module,
        args=trace_inputs,
        inputs_channel_order=order,
        outputs_channel_order=order,
        verbose=False,
        **kwargs,
    )
    fresh = list(make_inputs())
    with torch.no_grad():
        expected = module(*fresh)
    got = keras_model(
        [to_tf_order(x, channels_last) for x in fresh]
        if len(fresh) > 1
        else to_tf_order(fresh[0], channels_last)
    )
    expected_list = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    got_list = list(got) if isinstance(got, (tuple, list)) else [got]
    assert len(expected_list) == len(got_list)
    for e, g in zip(expected_list, got_list):
        e_np = to_tf_order(e, channels_last)
        g_np = np.asarray(g)
        assert e_np.shape == g_np.shape, f"shape {g_np.shape} != {e_np.shape}"
        if e_np.dtype == np.bool_:
            assert np.array_equal(e_np, g_np)
        else:
            np.testing.assert_allclose(g_np, e_np, atol=tol, rtol=0)
    return keras_model


@pytest.fixture
def compare():
    return convert_and_compare
