"""A few zoo architectures, converted in the test run as `ferry zoo` converts them.

Random weights, both back ends, fresh inputs, within 1e-4 x max(1, |output|); image models
with TensorFlow-order inputs and outputs keep 0 TRANSPOSE; no custom or Flex op.
"""

from __future__ import annotations

import pytest

from ferry.zoo.run import convert_one


@pytest.mark.parametrize("name", ["resnet18", "gpt2", "bert"])
def test_zoo_model_converts_exactly_on_both_back_ends(name):
    result = convert_one(name)
    if result.error.startswith("ModuleNotFoundError"):
        pytest.skip(result.error)
    assert not result.error
    for label, backend in (("Keras", result.keras), (".tflite", result.tflite)):
        assert backend.ok, f"{label}: {backend.reason}"
    assert not result.tflite.foreign_ops
    if name == "resnet18":
        assert result.tflite.transposes == 0 and result.keras.transposes == 0
