"""Imports torchvision's pure-Python model zoo beside the CPU build of torch.

The torchvision wheels on the package index are CUDA builds whose compiled ops cannot load
next to a CPU torch; torchvision then fails at import while registering fake kernels for
`nms`/`qnms`. The model architectures do not need those ops, so the two schemas are
declared first and the import retried. Detection ops (nms, roi_align) stay unavailable.
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest
import torch

_LIB: torch.library.Library | None = None


def import_torchvision() -> ModuleType:
    global _LIB
    try:
        import torchvision

        return torchvision
    except ImportError:
        pytest.skip("torchvision is not installed (scripts/setup.sh installs it)")
    except RuntimeError as error:
        if "torchvision::nms does not exist" not in str(error):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision

    return torchvision


def random_model(name: str) -> torch.nn.Module:
    """A torchvision classifier with random weights and random BN statistics (fresh models
    have mean 0, variance 1, which would leave batch norm untested), in eval mode."""
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()
