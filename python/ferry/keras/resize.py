"""The TF-level `resize` op (docs/tf_ops.md): PyTorch's upsampling of [N, H, W, C] tensors.

Where each output samples the input must be ATen's to the bit (nearest picks one input row, so
an index off by one is a wrong row, not a rounding error). TF's own kernels compute the same
positions as ATen when the ratio is in/out, in the same float32 arithmetic: nearest
(asymmetric and half-pixel) and bilinear (half-pixel, clamped, and align_corners), checked
against torch over many sizes. Those kernels are used there, so TFLite sees RESIZE_BILINEAR /
RESIZE_NEAREST_NEIGHBOR. The rest is a separable gather whose indices and weights the core
computes with ATen's arithmetic (cpp/ir/resample.cc, shared with the TFLite writer):
- a `scale` attribute (PyTorch samples at 1/scale_factor, not in/out),
- `antialias` (ATen's _upsample_*_aa: a stretched, normalised filter with more taps),
- bicubic (TF's kernel tabulates its weights, and uses a = -0.5 with half-pixel centres),
- float64 (TF's bilinear kernel computes in float32) and dtypes TF's kernels do not take.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ferry import _core

_NEAREST_DTYPES = {
    tf.int8,
    tf.uint8,
    tf.int16,
    tf.uint16,
    tf.int32,
    tf.int64,
    tf.float16,
    tf.bfloat16,
    tf.float32,
    tf.float64,
}
_BILINEAR_DTYPES = {tf.float16, tf.bfloat16, tf.float32}


def taps(
    method: str,
    coordinate: str,
    n_in: int,
    n_out: int,
    scale: float,
    ft: type,
    antialias: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per output position along one axis: input indices [n_out, k] and weights [n_out, k].

    The core computes them (the same numbers the TFLite writer writes), in ATen's arithmetic:
    float32, or float64 when `ft` is np.float64 (nearest is always float32 in ATen).
    """
    k, index, weight = _core.resample_taps(
        method, coordinate, n_in, n_out, float(scale), ft == np.float64, antialias
    )
    return (
        np.asarray(index, np.int64).reshape(n_out, k),
        np.asarray(weight, np.float64).astype(ft).reshape(n_out, k),
    )


def _gather_resize(x: tf.Tensor, attrs: dict[str, Any], scales: list[float]) -> tf.Tensor:
    method, coordinate = attrs["method"], attrs["coordinate"]
    dtype = x.dtype
    # ATen interpolates half types in float32 and rounds once at the end.
    compute = tf.float64 if dtype == tf.float64 else tf.float32
    ft = np.float64 if compute == tf.float64 else np.float32
    if method != "nearest" and x.dtype != compute:
        x = tf.cast(x, compute)
    size = [int(s) for s in attrs["size"]]
    rank = len(size) + 2
    # Width first, then height (then depth): ATen's separable loop nests the last dim innermost.
    for axis in range(rank - 2, 0, -1):
        n_in, n_out = int(x.shape[axis]), size[axis - 1]
        index, weight = taps(
            method, coordinate, n_in, n_out, scales[axis - 1], ft, bool(attrs.get("antialias"))
        )
        if method == "nearest":
            x = tf.gather(x, index[:, 0].astype(np.int32), axis=axis)
            continue
        shape = [1] * rank
        shape[axis] = n_out
        acc = None
        for k in range(index.shape[1]):
            term = tf.gather(x, index[:, k].astype(np.int32), axis=axis) * tf.constant(
                weight[:, k].reshape(shape), compute
            )
            acc = term if acc is None else acc + term
        x = acc
    return x if x.dtype == dtype else tf.cast(x, dtype)


def resize(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x = inputs[0]
    method, coordinate = attrs["method"], attrs["coordinate"]
    size: Any = [int(s) for s in attrs["size"]]
    scales = [float(s) for s in attrs.get("scale") or [0.0] * len(size)]
    if len(inputs) > 1 and inputs[1] is not None:
        # Free sizes: the output size at run time (the core sends it only where TF's own
        # kernels sample as ATen does).
        size = tf.cast(inputs[1], tf.int32)
    # TF's resize kernels are 2-D only: 3-D resizing is always the gather.
    if (
        any(s > 0 for s in scales)
        or method == "bicubic"
        or attrs.get("antialias")
        or len(attrs["size"]) != 2
    ):
        return _gather_resize(x, attrs, scales)
    align, half = coordinate == "align_corners", coordinate == "half_pixel"
    if method == "nearest" and x.dtype in _NEAREST_DTYPES and not align:
        return tf.raw_ops.ResizeNearestNeighbor(
            images=x, size=size, align_corners=False, half_pixel_centers=half
        )
    if method == "bilinear" and x.dtype in _BILINEAR_DTYPES:
        # ResizeBilinear returns float32 whatever it reads; ATen also rounds half types once.
        y = tf.raw_ops.ResizeBilinear(
            images=x, size=size, align_corners=align, half_pixel_centers=half
        )
        return y if y.dtype == x.dtype else tf.cast(y, x.dtype)
    return _gather_resize(x, attrs, scales)
