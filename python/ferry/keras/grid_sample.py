"""The TF-level `grid_sample` op (docs/tf_ops.md): F.grid_sample on a channels-last input.

The grid is data, so the sampling positions are computed in the graph, as ATen's CPU
grid_sampler_2d computes them: unnormalize (x, y) from [-1, 1], clip (border) or reflect
(reflection) them, then floor (bilinear, four weighted corners) or round half to even
(nearest). Pixels are fetched with one gather from the input padded by a zero border: a
corner outside the image reads a zero, exactly what ATen adds for it, without masks.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def _unnormalize(g: tf.Tensor, size: int, align: bool) -> tf.Tensor:
    # ATen's vectorised form: (g + 1) * (size - 1) / 2, or (g + 1) * size / 2 - 0.5.
    if align:
        return (g + 1) * ((size - 1) / 2)
    return (g + 1) * (size / 2) - 0.5


def _reflect(x: tf.Tensor, size: int, align: bool) -> tf.Tensor:
    """Folds x into [low, high] (pixel centres, or edges without align_corners), then clips."""
    low, span = (0.0, size - 1.0) if align else (-0.5, float(size))
    if span <= 0:
        return tf.zeros_like(x)
    extra = tf.math.floormod(tf.abs(x - low), 2 * span)
    x = tf.minimum(extra, 2 * span - extra) + low
    return tf.clip_by_value(x, 0.0, size - 1.0)


def source_coordinate(g: tf.Tensor, size: int, padding: str, align: bool) -> tf.Tensor:
    x = _unnormalize(g, size, align)
    if padding == "border":
        return tf.clip_by_value(x, 0.0, size - 1.0)
    if padding == "reflection":
        return _reflect(x, size, align)
    return x


def grid_sample(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x, grid = inputs[0], inputs[1]
    assert x is not None and grid is not None
    dtype = x.dtype
    compute = tf.float64 if dtype == tf.float64 else tf.float32
    x, grid = tf.cast(x, compute), tf.cast(grid, compute)
    n, h, w, c = (int(d) for d in x.shape)
    mode, padding, align = attrs["mode"], attrs["padding"], bool(attrs["align_corners"])
    ix = source_coordinate(grid[..., 0:1], w, padding, align)  # [N, H', W', 1]
    iy = source_coordinate(grid[..., 1:2], h, padding, align)
    padded = tf.reshape(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), [-1, c])
    base = tf.reshape(tf.range(n, dtype=tf.int32) * ((h + 2) * (w + 2)), [n, 1, 1, 1])

    def fetch(xc: tf.Tensor, yc: tf.Tensor) -> tf.Tensor:
        # Whole-number coordinates; anything outside the image lands on the zero border.
        xi = tf.cast(tf.clip_by_value(xc, -1.0, float(w)), tf.int32) + 1
        yi = tf.cast(tf.clip_by_value(yc, -1.0, float(h)), tf.int32) + 1
        flat = base + yi * (w + 2) + xi  # [N, H', W', 1]
        return tf.gather(padded, flat[..., 0])  # [N, H', W', C]

    if mode == "nearest":
        out = fetch(tf.round(ix), tf.round(iy))  # nearbyint: half to even
    elif mode == "bilinear":
        x0, y0 = tf.floor(ix), tf.floor(iy)
        we, ws = ix - x0, iy - y0  # towards x0 + 1, y0 + 1
        ww, wn = 1 - we, 1 - ws
        out = (
            fetch(x0, y0) * (wn * ww)
            + fetch(x0 + 1, y0) * (wn * we)
            + fetch(x0, y0 + 1) * (ws * ww)
            + fetch(x0 + 1, y0 + 1) * (ws * we)
        )
    else:
        raise ValueError(f"grid_sample: unsupported mode {mode!r}")
    return out if out.dtype == dtype else tf.cast(out, dtype)
