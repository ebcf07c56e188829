"""torchvision for the tests: Ferry's import shim (ferry.zoo.imports), skipping when absent."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

from ferry.zoo.imports import import_torchvision as _import_torchvision
from ferry.zoo.imports import randomize_statistics


def import_torchvision() -> ModuleType:
    try:
        return _import_torchvision()
    except ImportError:
        pytest.skip("torchvision is not installed (scripts/setup.sh installs it)")


def random_model(name: str) -> torch.nn.Module:
    """A torchvision classifier with random weights and random BN statistics, in eval mode."""
    torchvision = import_torchvision()
    torch.manual_seed(0)
    return randomize_statistics(getattr(torchvision.models, name)(weights=None))
