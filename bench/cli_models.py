"""Factories for `ferry convert` in bench/cli_timing.py (random weights)."""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python", "models"))
from torchvision_import import import_torchvision  # noqa: E402


def resnet50() -> torch.nn.Module:
    torch.manual_seed(0)
    return import_torchvision().models.resnet50(weights=None)
