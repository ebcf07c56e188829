"""The TF-level `resize` op (docs/tf_ops.md): PyTorch's upsampling of [N, H, W, C] tensors.

Where each output samples the input must be ATen's to the bit (nearest picks one input row, so
an index off by one is a wrong row, not a rounding error). TF's own kernels compute the same
positions as ATen when the ratio is in/out, in the same float32 arithmetic: nearest
(asymmetric and half-pixel) and bilinear (half-pixel, clamped, and align_corners), checked
against torch over many sizes. Those kernels are used there, so TFLite sees RESIZE_BILINEAR /
RESIZE_NEAREST_NEIGHBOR. The rest is a separable gather whose indices and weights are
computed here with ATen's arithmetic:
- a `scale` attribute (PyTorch samples at 1/scale_factor, not in/out),
- bicubic (TF's kernel tabulates its weights, and uses a = -0.5 with half-pixel centres),
- float64 (TF's bilinear kernel computes in float32) and dtypes TF's kernels do not take.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

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


def _ratio(coordinate: str, n_in: int, n_out: int, scale: float, ft: type) -> Any:
    """ATen's area_pixel_compute_scale / compute_scales_value in its arithmetic type `ft`."""
    if coordinate == "align_corners":
        return ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
    if scale > 0:
        return ft(1.0 / scale)
    return ft(n_in) / ft(n_out)


def _nearest(coordinate: str, n_in: int, n_out: int, scale: float) -> np.ndarray:
    dst = np.arange(n_out)
    if coordinate == "asymmetric" and n_out == n_in:
        return dst  # ATen copies at equal sizes, whatever the scale
    if coordinate == "asymmetric" and n_out == 2 * n_in:
        return dst // 2  # and halves at double sizes
    ratio = _ratio(coordinate, n_in, n_out, scale, np.float32)  # nearest is float32 in ATen
    offset = np.float32(0.5 if coordinate == "half_pixel" else 0.0)
    src = np.floor((dst.astype(np.float32) + offset) * ratio).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _cubic_weights(t: np.ndarray, ft: type) -> np.ndarray:
    """ATen's get_cubic_upsample_coefficients (a = -0.75) for taps at floor - 1 ... floor + 2."""
    a = ft(-0.75)

    def near(x: np.ndarray) -> np.ndarray:  # |x| <= 1
        return ((a + ft(2)) * x - (a + ft(3))) * x * x + ft(1)

    def far(x: np.ndarray) -> np.ndarray:  # 1 < |x| < 2
        return ((a * x - ft(5) * a) * x + ft(8) * a) * x - ft(4) * a

    one = ft(1)
    return np.stack([far(t + one), near(t), near(one - t), far(one - t + one)], axis=1)


def taps(
    method: str, coordinate: str, n_in: int, n_out: int, scale: float, ft: type
) -> tuple[np.ndarray, np.ndarray]:
    """Per output position along one axis: input indices [n_out, k] and weights [n_out, k]."""
    if method == "nearest":
        index = _nearest(coordinate, n_in, n_out, scale)
        return index[:, None], np.ones((n_out, 1), ft)
    dst = np.arange(n_out)
    if method == "bilinear" and n_out == n_in:
        return np.stack([dst, dst], 1), np.stack([np.ones(n_out, ft), np.zeros(n_out, ft)], 1)
    ratio = _ratio(coordinate, n_in, n_out, scale, ft)
    if coordinate == "align_corners":
        src = ratio * dst.astype(ft)
    else:
        src = ratio * (dst.astype(ft) + ft(0.5)) - ft(0.5)
        if method == "bilinear":
            src = np.maximum(src, ft(0))  # bilinear clamps, bicubic does not
    lower = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - lower.astype(ft), ft(0), ft(1)).astype(ft)
    if method == "bilinear":
        upper = np.where(lower < n_in - 1, lower + 1, lower)
        return np.stack([lower, upper], 1), np.stack([ft(1) - t, t], 1).astype(ft)
    if method == "bicubic":
        index = np.clip(lower[:, None] + np.arange(-1, 3), 0, n_in - 1)
        return index, _cubic_weights(t, ft).astype(ft)
    raise ValueError(f"resize: unknown method {method!r}")


def _gather_resize(x: tf.Tensor, attrs: dict[str, Any], scales: list[float]) -> tf.Tensor:
    method, coordinate = attrs["method"], attrs["coordinate"]
    dtype = x.dtype
    # ATen interpolates half types in float32 and rounds once at the end.
    compute = tf.float64 if dtype == tf.float64 else tf.float32
    ft = np.float64 if compute == tf.float64 else np.float32
    if method != "nearest" and x.dtype != compute:
        x = tf.cast(x, compute)
    size = [int(s) for s in attrs["size"]]
    # Width first, then height: ATen's separable loop nests the last dim innermost.
    for axis in (2, 1):
        n_in, n_out = int(x.shape[axis]), size[axis - 1]
        index, weight = taps(method, coordinate, n_in, n_out, scales[axis - 1], ft)
        if method == "nearest":
            x = tf.gather(x, index[:, 0].astype(np.int32), axis=axis)
            continue
        shape = [1, 1, 1, 1]
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
    size = [int(s) for s in attrs["size"]]
    scales = [float(s) for s in attrs.get("scale") or [0.0, 0.0]]
    if any(s > 0 for s in scales) or method == "bicubic":
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
