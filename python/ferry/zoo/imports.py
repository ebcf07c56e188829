"""Imports the model libraries the zoo builds architectures from, beside a CPU build of torch.

The torchvision wheels on the package index are CUDA builds whose compiled ops cannot load
next to a CPU torch; torchvision then fails at import while registering fake kernels for
`nms`/`qnms`. The model architectures do not need those ops, so the two schemas are declared
first and the import retried (detection ops such as nms and roi_align stay unavailable).
`transformers` imports torchvision, so it goes through the same door.
"""

from __future__ import annotations

import contextlib
import sys
from types import ModuleType

import torch

_LIB: torch.library.Library | None = None


def import_torchvision() -> ModuleType:
    """torchvision, or ImportError when it is not installed."""
    global _LIB
    try:
        import torchvision

        return torchvision
    except RuntimeError as error:
        if "torchvision::nms does not exist" not in str(error):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    if _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")
        _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision

    return torchvision


def import_transformers() -> ModuleType:
    """transformers (after torchvision, which it imports), or ImportError."""
    with contextlib.suppress(ImportError):  # transformers runs without torchvision
        import_torchvision()
    import transformers

    transformers.logging.set_verbosity_error()  # config warnings about unused token ids
    return transformers


def randomize_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Random batch-norm statistics: fresh models have mean 0 and variance 1, which would leave
    the normalisation untested. Weights a library starts at zero (ViT's classifier head) get
    random values too, or every output would be 0 whatever the conversion did. The model is
    returned in eval mode."""
    with torch.no_grad():
        for m in model.modules():
            weight = getattr(m, "weight", None)
            if isinstance(m, torch.nn.Linear | torch.nn.modules.conv._ConvNd) and not weight.any():
                weight.normal_(0.0, 0.02)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()
