"""F.grid_sample: bilinear and nearest, every padding mode, align_corners both ways, with grid
values in [-1.2, 1.2] so samples fall outside the image too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params


def grid(*shape: int):
    return lambda: torch.rand(shape) * 2.4 - 1.2


X = (2, 3, 5, 7)
G = grid(2, 4, 6, 2)

CASES = [
    case(
        f"{mode}-{padding}-{'ac' if align else 'noac'}",
        lambda x, g, mode=mode, padding=padding, align=align: F.grid_sample(
            x, g, mode=mode, padding_mode=padding, align_corners=align
        ),
        X,
        G,
    )
    for mode in ("bilinear", "nearest")
    for padding in ("zeros", "border", "reflection")
    for align in (False, True)
]
CASES += [
    case("default-args", lambda x, g: F.grid_sample(x, g, align_corners=False), X, G),
    case(
        "one-pixel-wide",
        lambda x, g: F.grid_sample(x, g, padding_mode="reflection", align_corners=True),
        (1, 2, 4, 1),
        grid(1, 3, 3, 2),
    ),
    # TFLite has no float64 arithmetic kernels: refused, naming the way out.
    case(
        "float64",
        lambda x, g: F.grid_sample(x, g, align_corners=False),
        lambda: torch.randn(X, dtype=torch.float64),
        lambda: G().double(),
        refuses={"tflite": "float64 grid_sample.*convert the model to float32"},
    ),
    case(
        "upsampling-grid",
        lambda x, g: F.grid_sample(x, g, align_corners=False),
        (1, 4, 3, 3),
        grid(1, 9, 9, 2),
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_grid_sample(case, backend, channels_last):
    case.check(backend, channels_last)
