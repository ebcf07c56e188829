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
