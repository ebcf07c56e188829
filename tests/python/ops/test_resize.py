"""F.interpolate / nn.Upsample: every mode, align_corners, size or scale_factor (integer and
not, up and down, with and without recompute_scale_factor), antialias, in both channel
orders."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, Fn, case, params
from torch import nn

import ferry

torch.manual_seed(0)
S = (1, 3, 7, 9)

MODES = [
    ("nearest", {"mode": "nearest"}),
    ("nearest-exact", {"mode": "nearest-exact"}),
    ("bilinear", {"mode": "bilinear", "align_corners": False}),
    ("bilinear-ac", {"mode": "bilinear", "align_corners": True}),
    ("bicubic", {"mode": "bicubic", "align_corners": False}),
    ("bicubic-ac", {"mode": "bicubic", "align_corners": True}),
]
# 7x9 input. Non-integer scales where in * scale is not an integer are where PyTorch samples
# at 1/scale rather than in/out (unless recompute_scale_factor=True).
SIZES = [
    ("size-up", {"size": (12, 20)}),
    ("size-down", {"size": (4, 5)}),
    ("size-same", {"size": (7, 9)}),
    ("x2", {"scale_factor": 2}),
    ("x3", {"scale_factor": 3.0}),
    ("x0.5", {"scale_factor": 0.5}),
    ("x1.7", {"scale_factor": 1.7}),
    ("x0.7", {"scale_factor": 0.7}),
    ("x1.5-0.6", {"scale_factor": (1.5, 0.6)}),
    ("x1.05", {"scale_factor": 1.05}),
    ("x1.7-recompute", {"scale_factor": 1.7, "recompute_scale_factor": True}),
]


def quiet(fn):
    """F.upsample* warn that they are deprecated; they are what is tested here."""

    def call(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(x)

    return Fn(call)


def interp(**kw):
    return lambda x: F.interpolate(x, **kw)


GRID = [case(f"{mode}-{size}", interp(**m, **s), S) for mode, m in MODES for size, s in SIZES]

# nn.Upsample between convolutions: the resize sits inside a channels-last region.
conv_up_conv = nn.Sequential(
    nn.Conv2d(3, 4, 3, padding=1),
    nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=False),
    nn.Conv2d(4, 2, 1),
)

OTHERS = [
    case("upsample-module", nn.Upsample(scale_factor=2), S),
    case("upsample-size", nn.Upsample(size=(10, 4), mode="nearest-exact"), S),
    case("upsampling-nearest2d", nn.UpsamplingNearest2d(scale_factor=2.5), S),
    case("upsampling-bilinear2d", nn.UpsamplingBilinear2d(size=(11, 13)), S),
    case("F.upsample", quiet(lambda x: F.upsample(x, scale_factor=1.3, mode="bilinear")), S),
    case("F.upsample_nearest", quiet(lambda x: F.upsample_nearest(x, size=(5, 12))), S),
    case("F.upsample_bilinear", quiet(lambda x: F.upsample_bilinear(x, scale_factor=1.5)), S),
    case("conv-up-conv", conv_up_conv, S),
    case("batch2", interp(scale_factor=1.7, mode="bilinear"), (2, 3, 7, 9)),
    # TFLite has no float64 arithmetic kernels: refused, naming the way out.
    case(
        "float64",
        interp(scale_factor=1.7, mode="bilinear"),
        lambda: torch.randn(S).double(),
        refuses={"tflite": "float64 resizing.*convert the model to float32"},
    ),
    case("1x1-to-size", interp(size=(6, 5), mode="bilinear", align_corners=False), (1, 4, 1, 1)),
    case("1d-linear", interp(scale_factor=1.7, mode="linear"), (1, 3, 9)),
    case("1d-linear-ac", interp(size=13, mode="linear", align_corners=True), (1, 3, 9)),
    case("1d-nearest", interp(scale_factor=0.7, mode="nearest"), (1, 3, 9)),
    case("1d-nearest-exact", interp(size=4, mode="nearest-exact"), (1, 3, 9)),
    case("area", interp(size=(4, 3), mode="area"), (1, 3, 8, 9)),
    # 3-D (volumetric): separable on both back ends (TF's resize kernels are 2-D only).
    case("3d-trilinear", interp(scale_factor=1.7, mode="trilinear"), (1, 2, 4, 5, 6)),
    case(
        "3d-trilinear-ac",
        interp(size=(3, 7, 4), mode="trilinear", align_corners=True),
        (1, 2, 4, 5, 6),
    ),
    case("3d-nearest", interp(scale_factor=(2, 0.7, 1.5)), (1, 2, 4, 5, 6)),
    case("3d-nearest-exact", interp(size=(5, 5, 9), mode="nearest-exact"), (1, 2, 4, 5, 6)),
]


# antialias=True: ATen's _upsample_*_aa filters, stretched by the downscaling factor (more taps
# the further down), and normalised; upsampling and unchanged axes included.
ANTIALIAS = [
    case(f"aa-{mode}-{size}", interp(mode=mode, antialias=True, **s), S)
    for mode in ("bilinear", "bicubic")
    for size, s in [
        ("size-down", {"size": (4, 5)}),
        ("x0.5", {"scale_factor": 0.5}),
        ("x0.3", {"scale_factor": 0.3}),
        ("x0.7", {"scale_factor": 0.7}),
        ("size-up", {"size": (12, 20)}),
        ("height-only", {"size": (3, 9)}),
        ("ac-down", {"size": (4, 5), "align_corners": True}),
    ]
]


@pytest.mark.parametrize(PARAMS, params(GRID + OTHERS + ANTIALIAS))
def test_resize(case, backend, channels_last):
    case.check(backend, channels_last)


# The same calls with the F.interpolate rule off convert through the aten upsample ops, which
# carry the scales as scales_h/scales_w (1-d: scales).
ATEN = [
    case("aten-bilinear-x1.7", interp(scale_factor=1.7, mode="bilinear"), S),
    case("aten-bilinear-ac", interp(size=(12, 5), mode="bilinear", align_corners=True), S),
    case("aten-nearest-x0.7", interp(scale_factor=0.7), S),
    case("aten-nearest-exact-x1.7", interp(scale_factor=1.7, mode="nearest-exact"), S),
    case("aten-bicubic-x1.5-0.6", interp(scale_factor=(1.5, 0.6), mode="bicubic"), S),
    case("aten-1d-linear", interp(scale_factor=1.7, mode="linear"), (1, 3, 9)),
    case("aten-1d-nearest-exact", interp(scale_factor=0.7, mode="nearest-exact"), (1, 3, 9)),
    case("aten-trilinear-x1.7", interp(scale_factor=1.7, mode="trilinear"), (1, 2, 4, 5, 6)),
    case("aten-nearest3d-x0.7", interp(scale_factor=0.7), (1, 2, 4, 5, 6)),
    case("aten-bilinear-aa", interp(scale_factor=0.4, mode="bilinear", antialias=True), S),
    case("aten-bicubic-aa", interp(size=(3, 4), mode="bicubic", antialias=True), S),
]


@pytest.mark.parametrize(PARAMS, params(ATEN))
def test_resize_through_aten(case, backend, channels_last):
    with ferry.disabled_rules(F.interpolate):
        case.check(backend, channels_last)


def test_keras_file_round_trip(tmp_path):
    # Both Keras paths: TF's bilinear kernel, and the gather a given scale_factor needs.
    import keras
    import numpy as np

    fn = Fn(
        lambda x: F.interpolate(F.interpolate(x, size=(9, 4), mode="bilinear"), scale_factor=1.7)
    )
    x = torch.randn(S)
    keras_model = ferry.pytorch_to_keras(
        fn,
        args=[x],
        inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        outputs_channel_order=ferry.ChannelOrder.PYTORCH,
        verbose=False,
    )
    keras_model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(x.numpy())), fn(x).numpy(), atol=1e-5, rtol=0)
