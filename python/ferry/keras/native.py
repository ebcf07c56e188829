"""Native Keras layers for the TF-level ops that have one, with weights in Keras' order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ferry.keras.nn_ops import strided_window_slice
from ferry.tfgraph import TfNode, TfValue

L = keras.layers


@dataclass
class Native:
    layer: keras.layers.Layer
    weights: list[np.ndarray]
    # Attributes of a `slice` applied to the layer's output (strided dilated convolutions).
    post_slice: dict[str, Any] | None = None


Params = list[np.ndarray | None]
Factory = Callable[[TfNode, TfValue, Params, str], Native]


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _by_rank(classes: dict[int, type], rank: int, node: TfNode) -> type:
    if rank not in classes:
        raise NotImplementedError(
            f"op {node.op!r} (scope {node.scope!r}) with {rank} spatial dimensions has no "
            "Keras layer"
        )
    return classes[rank]


def _window_attrs(node: TfNode) -> tuple[list[int], list[int], str]:
    strides = _ints(node.attrs["strides"])
    dilations = _ints(node.attrs.get("dilations") or [1] * len(strides))
    return strides, dilations, str(node.attrs.get("padding", "VALID")).upper()


def _stride_split(
    node: TfNode, x: TfValue, kernel: list[int]
) -> tuple[list[int], dict[str, Any] | None]:
    """Strides for the Keras layer, and the slice that must follow it.

    Keras (like TF) rejects strides > 1 together with dilations > 1: run at stride 1 and
    keep every stride-th output instead."""
    strides, dilations, padding = _window_attrs(node)
    if max(strides) == 1 or max(dilations) == 1:
        return strides, None
    sizes = list(x.shape[1:-1])
    if any(s is None or s < 0 for s in sizes):
        raise NotImplementedError(
            f"{node.op} at scope {node.scope!r}: strides and dilations both > 1 need static "
            "spatial dimensions"
        )
    begins, ends = strided_window_slice(sizes, kernel, strides, dilations, padding)
    post = {"begin": [0, *begins, 0], "end": [None, *ends, None], "strides": [1, *strides, 1]}
    return [1] * len(strides), post


def _conv(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    kernel, bias = params[0], params[1] if len(params) > 1 else None
    k = list(kernel.shape[:-2])
    cls = _by_rank({1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}, len(k), node)
    strides, post = _stride_split(node, x, k)
    _, dilations, padding = _window_attrs(node)
    layer = cls(
        filters=int(kernel.shape[-1]),
        kernel_size=k,
        strides=strides,
        padding=padding.lower(),
        dilation_rate=dilations,
        groups=int(node.attrs.get("groups", 1)),
        use_bias=bias is not None,
        dtype=x.dtype,
        name=name,
    )
    return Native(layer, [kernel] + ([bias] if bias is not None else []), post)


def _depthwise_conv(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    kernel, bias = params[0], params[1] if len(params) > 1 else None
    *k, channels, multiplier = kernel.shape
    strides, post = _stride_split(node, x, list(k))
    _, dilations, padding = _window_attrs(node)
    common = dict(
        kernel_size=list(k),
        strides=strides,
        padding=padding.lower(),
        dilation_rate=dilations,
        use_bias=bias is not None,
        dtype=x.dtype,
        name=name,
    )
    extra = [bias] if bias is not None else []
    if len(k) == 3:
        # Keras has no DepthwiseConv3D; the grouped Conv3D with one input channel per group
        # is the same operation (output channel c*M + m either way).
        layer = L.Conv3D(filters=channels * multiplier, groups=channels, **common)
        return Native(layer, [kernel.reshape(*k, 1, channels * multiplier)] + extra, post)
    cls = _by_rank({1: L.DepthwiseConv1D, 2: L.DepthwiseConv2D}, len(k), node)
    return Native(cls(depth_multiplier=multiplier, **common), [kernel] + extra, post)


def _conv_transpose(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    """Keras' ConvNDTranspose with VALID padding and output_padding 0 gives the full output,
    (in - 1) * stride + k (with output_padding None it would be in * stride when k < stride);
    its kernel is [*k, Cout, Cin], the op's."""
    kernel, bias = params[0], params[1] if len(params) > 1 else None
    k = list(kernel.shape[:-2])
    cls = _by_rank({1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}, len(k), node)
    layer = cls(
        filters=int(kernel.shape[-2]),
        kernel_size=k,
        strides=_ints(node.attrs["strides"]),
        padding="valid",
        output_padding=[0] * len(k),
        use_bias=bias is not None,
        dtype=x.dtype,
        name=name,
    )
    return Native(layer, [kernel] + ([bias] if bias is not None else []))


def _dense(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    kernel, bias = params[0], params[1] if len(params) > 1 else None
    layer = L.Dense(int(kernel.shape[-1]), use_bias=bias is not None, dtype=x.dtype, name=name)
    return Native(layer, [kernel] + ([bias] if bias is not None else []))


def _batch_norm(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    gamma, beta, mean, variance = (list(params) + [None] * 4)[:4]
    if mean is None or variance is None:
        raise ValueError(f"batch_norm at scope {node.scope!r} has no running statistics")
    # PyTorch's affine=False is gamma 1 and beta 0, so the weights are always the four.
    gamma = np.ones_like(mean) if gamma is None else gamma
    beta = np.zeros_like(mean) if beta is None else beta
    layer = L.BatchNormalization(
        axis=int(node.attrs["axis"]),
        epsilon=float(node.attrs["epsilon"]),
        dtype=x.dtype,
        name=name,
    )
    return Native(layer, [gamma, beta, mean, variance])


def _layer_norm(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    gamma, beta = (list(params) + [None] * 2)[:2]
    axes = _ints(node.attrs["axes"])
    layer = L.LayerNormalization(
        axis=axes,
        epsilon=float(node.attrs["epsilon"]),
        center=beta is not None,
        scale=gamma is not None,
        dtype=x.dtype,
        name=name,
    )
    # Keras shapes gamma/beta as the normalised dimensions; a graph may give them flattened.
    shape = tuple(x.shape[a] for a in axes)
    weights = [np.broadcast_to(w, shape).copy() for w in (gamma, beta) if w is not None]
    return Native(layer, weights)


def _embedding(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
    table = params[0]
    layer = L.Embedding(int(table.shape[0]), int(table.shape[1]), dtype=str(table.dtype), name=name)
    return Native(layer, [table])


def _pool(classes: dict[int, type]) -> Factory:
    def factory(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
        pool_size = _ints(node.attrs["pool_size"])
        cls = _by_rank(classes, len(pool_size), node)
        layer = cls(
            pool_size=pool_size,
            strides=_ints(node.attrs["strides"]),
            padding=str(node.attrs.get("padding", "VALID")).lower(),
            dtype=x.dtype,
            name=name,
        )
        return Native(layer, [])

    return factory


# Recurrent ops (docs/tf_ops.md): x, then per direction its states and three weights.
_RNN_STATES = {"gru": 1, "lstm": 2}


def state_inputs(node: TfNode) -> list[int]:
    """Inputs beyond the first that are run-time tensors (an RNN's initial states), passed
    to the layer as `initial_state`; every other input of a native op is a weight."""
    states = _RNN_STATES.get(node.op, 0)
    if not states:
        return []
    group = states + 3
    directions = 2 if node.attrs.get("bidirectional") else 1
    return [1 + d * group + s for d in range(directions) for s in range(states)]


def _recurrent(cls: type, **options: Any) -> Factory:
    def factory(node: TfNode, x: TfValue, params: Params, name: str) -> Native:
        states = _RNN_STATES[node.op]
        group = states + 3
        bidirectional = bool(node.attrs.get("bidirectional"))
        weights: list[np.ndarray] = []
        for d in range(2 if bidirectional else 1):
            kernel, recurrent, bias = params[d * group + states : (d + 1) * group]
            weights += [kernel, recurrent] + ([bias] if bias is not None else [])
        # use_cudnn=False: Keras would switch to cuDNN's kernels on a GPU host; the generic
        # loop computes the same thing on every host and in every export.
        layer = cls(
            int(node.attrs["units"]),
            return_sequences=True,
            return_state=True,
            use_bias=params[states + 2] is not None,
            use_cudnn=False,
            dtype=x.dtype,
            name=name,
            **options,
        )
        if bidirectional:
            # Keras' Bidirectional flips the backward output back to the original time
            # order and concatenates forward first, as PyTorch does.
            layer = L.Bidirectional(layer, merge_mode="concat", name=name)
        return Native(layer, weights)

    return factory


NATIVE: dict[str, Factory] = {
    "conv": _conv,
    "depthwise_conv": _depthwise_conv,
    "dense": _dense,
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "embedding": _embedding,
    "max_pool": _pool({1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}),
    "avg_pool": _pool({1: L.AveragePooling1D, 2: L.AveragePooling2D, 3: L.AveragePooling3D}),
    "gru": _recurrent(L.GRU, reset_after=True),
    "lstm": _recurrent(L.LSTM),
    "conv_transpose": _conv_transpose,
}
