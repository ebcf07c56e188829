"""Functional TensorFlow forms of the ops that normally become native Keras layers.

The builder prefers Keras layers (their weights follow Keras conventions); these functions
serve when a weight is a computed tensor rather than a constant, and for constant folding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def strided_window_slice(
    sizes: list[int],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    padding: str,
) -> tuple[list[int], list[int]]:
    """Begin/end (spatial, in the stride-1 output) that pick the outputs of the strided op.

    TF's convolutions reject strides > 1 together with dilations > 1, which PyTorch allows,
    so such a convolution runs at stride 1 and this slice keeps every `stride`-th output
    (with `strides` as the slice's steps); for SAME it also accounts for TF's padding split
    differing between the two strides."""
    begins, ends = [], []
    for size, k, stride, dilation in zip(sizes, kernel, strides, dilations, strict=True):
        span = (k - 1) * dilation + 1
        if padding == "VALID":
            count, begin = (size - span) // stride + 1, 0
        else:
            count = -(-size // stride)
            total = max((count - 1) * stride + span - size, 0)
            begin = (span - 1) // 2 - total // 2
        begins.append(begin)
        ends.append(begin + (count - 1) * stride + 1)
    return begins, ends


def _strided_subsample(
    y: tf.Tensor, x: tf.Tensor, kernel: list[int], attrs: dict[str, Any]
) -> tf.Tensor:
    strides = _ints(attrs["strides"])
    begins, ends = strided_window_slice(
        list(x.shape[1:-1]), kernel, strides, _ints(attrs["dilations"]), attrs["padding"]
    )
    # Batch and channels are kept whole through the end mask.
    mask = 1 | (1 << (len(strides) + 1))
    return tf.strided_slice(
        y, [0, *begins, 0], [0, *ends, 0], [1, *strides, 1], begin_mask=mask, end_mask=mask
    )


def conv(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x, kernel = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    strides, dilations = _ints(attrs["strides"]), _ints(attrs["dilations"])
    padding = str(attrs["padding"])
    k = list(kernel.shape[:-2])
    # Grouped convolution needs nothing more: TF infers the groups from the channel counts.
    if max(strides) > 1 and max(dilations) > 1:
        y = tf.nn.convolution(x, kernel, strides=1, padding=padding, dilations=dilations)
        y = _strided_subsample(y, x, k, attrs)
    else:
        y = tf.nn.convolution(x, kernel, strides=strides, padding=padding, dilations=dilations)
    return y if bias is None else y + bias


def depthwise_conv(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # A depthwise kernel [*k, C, M] is the grouped kernel [*k, 1, C*M] with C groups, with
    # output channel c*M + m in both.
    kernel = inputs[1]
    *k, channels, multiplier = kernel.shape
    grouped = tf.reshape(kernel, [*k, 1, channels * multiplier])
    return conv([inputs[0], grouped, *inputs[2:]], attrs)


def dense(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x, kernel = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    y = tf.linalg.matmul(x[tf.newaxis] if x.shape.rank == 1 else x, kernel)
    if x.shape.rank == 1:
        y = y[0]
    return y if bias is None else y + bias


def batch_norm(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x, gamma, beta, mean, variance = (list(inputs) + [None] * 5)[:5]
    rank, axis = x.shape.rank, int(attrs["axis"])
    shape = [1] * rank
    shape[axis % rank] = -1

    def param(t: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.cast(t, x.dtype), shape)

    scale = tf.math.rsqrt(param(variance) + tf.cast(attrs["epsilon"], x.dtype))
    if gamma is not None:
        scale = scale * param(gamma)
    y = (x - param(mean)) * scale
    return y if beta is None else y + param(beta)


def layer_norm(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x = inputs[0]
    gamma = inputs[1] if len(inputs) > 1 else None
    beta = inputs[2] if len(inputs) > 2 else None
    axes = _ints(attrs["axes"])
    mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
    y = (x - mean) * tf.math.rsqrt(variance + tf.cast(attrs["epsilon"], x.dtype))
    # gamma/beta are shaped like the normalised axes, which after layout need not be the
    # trailing ones (a channels-last input normalised over W has axes [2] of [N, H, W, C]):
    # put their dims at those axes before broadcasting.
    shape = [1] * x.shape.rank
    for a in axes:
        shape[a] = -1 if x.shape[a] is None else x.shape[a]

    def param(t: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.cast(t, x.dtype), shape)

    if gamma is not None:
        y = y * param(gamma)
    return y if beta is None else y + param(beta)


def group_norm(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    """Statistics per sample and group of channels (docs/tf_ops.md): the channels are grouped
    where they lie, [N, before, G, C/G · after], so a channels-last tensor is never moved."""
    x = inputs[0]
    gamma = inputs[1] if len(inputs) > 1 else None
    beta = inputs[2] if len(inputs) > 2 else None
    rank = x.shape.rank
    axis, groups = int(attrs["axis"]) % rank, int(attrs["groups"])
    dims = list(x.shape)
    channels = int(dims[axis])

    def size(part: list[Any], lo: int, hi: int) -> Any:
        # Free sizes (None) are read at run time.
        if all(d is not None for d in part):
            return int(np.prod(part, dtype=np.int64))
        return tf.reduce_prod(tf.shape(x)[lo:hi])

    before = size(dims[1:axis], 1, axis)
    after = size(dims[axis + 1 :], axis + 1, rank)
    target = [-1, before, groups, channels // groups * after]
    static = all(isinstance(d, int) for d in target)
    grouped = tf.reshape(x, target if static else tf.stack(target))
    mean, variance = tf.nn.moments(grouped, axes=[1, 3], keepdims=True)
    normed = (grouped - mean) * tf.math.rsqrt(variance + tf.cast(attrs["epsilon"], x.dtype))
    y = tf.reshape(normed, tf.shape(x))
    shape = [1] * rank
    shape[axis] = -1

    def param(t: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.cast(t, x.dtype), shape)

    if gamma is not None:
        y = y * param(gamma)
    return y if beta is None else y + param(beta)


def embedding(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    return tf.gather(inputs[1], inputs[0])


def _pool(kind: str):
    def op(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
        return tf.nn.pool(
            inputs[0],
            window_shape=_ints(attrs["pool_size"]),
            pooling_type=kind,
            strides=_ints(attrs["strides"]),
            padding=str(attrs.get("padding", "VALID")),
        )

    return op


def conv_transpose(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    """The full transposed convolution (VALID): spatial size (in - 1) * stride + k."""
    x, kernel = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    strides = _ints(attrs["strides"])
    k = list(kernel.shape[:-2])
    sizes = [(int(n) - 1) * s + int(w) for n, s, w in zip(x.shape[1:-1], strides, k, strict=True)]
    shape = [tf.shape(x)[0], *sizes, int(kernel.shape[-2])]
    y = tf.nn.conv_transpose(x, kernel, shape, strides=strides, padding="VALID")
    return y if bias is None else y + bias


NN_OPS = {
    "conv": conv,
    "depthwise_conv": depthwise_conv,
    "dense": dense,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "embedding": embedding,
    "max_pool": _pool("MAX"),
    "avg_pool": _pool("AVG"),
    "conv_transpose": conv_transpose,
}
