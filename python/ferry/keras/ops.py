"""TensorFlow implementations of the TF-level ops that have no native Keras layer.

Each function takes the op's operands (tensors, `None` for an absent optional input) and its
attributes, and reproduces PyTorch's semantics as docs/tf_ops.md states them. `OPS` maps op
names to these functions; it also holds functional forms of the weighted ops (`nn_ops.py`) so
that the builder can fold constant subgraphs and handle weights that are computed tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ferry.keras import grid_sample, nn_ops, resize

OpResult = tf.Tensor | list[tf.Tensor]
OpFn = Callable[[list[tf.Tensor | None], dict[str, Any]], OpResult]

# Floating point types ordered by width; float16 and bfloat16 share a rank because neither
# holds the other, and PyTorch promotes the pair to float32.
_FLOAT_RANK = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}


def _category(dtype: tf.DType) -> int:
    if dtype == tf.bool:
        return 0
    return 2 if dtype.is_floating else 1


def _promote_within(dtypes: list[tf.DType]) -> tf.DType:
    names = {d.name for d in dtypes}
    if len(names) == 1:
        return dtypes[0]
    if dtypes[0].is_floating:
        if {"float16", "bfloat16"} <= names and not names & {"float32", "float64"}:
            return tf.float32
        return tf.as_dtype(max(names, key=lambda n: _FLOAT_RANK[n]))
    result = np.result_type(*[np.dtype(n) for n in names])
    return tf.as_dtype(result.name)


def result_dtype(xs: list[tf.Tensor]) -> tf.DType:
    """PyTorch's type promotion: higher category wins, and 0-d tensors only decide the type
    when no dimensioned tensor of that category takes part (so `half * 0.5` stays half)."""
    top = max(_category(x.dtype) for x in xs)
    ranked = [x for x in xs if _category(x.dtype) == top]
    dimensioned = [x for x in ranked if x.shape.rank != 0]
    return _promote_within([x.dtype for x in (dimensioned or ranked)])


def _promote(xs: list[tf.Tensor]) -> list[tf.Tensor]:
    dtype = result_dtype(xs)
    return [x if x.dtype == dtype else tf.cast(x, dtype) for x in xs]


def _as_float(x: tf.Tensor) -> tf.Tensor:
    # PyTorch's floating-only functions compute integer and bool inputs in float32.
    return x if x.dtype.is_floating else tf.cast(x, tf.float32)


def _as_bool(x: tf.Tensor) -> tf.Tensor:
    return x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros([], x.dtype))


def _unary(fn: Callable[[tf.Tensor], tf.Tensor], floating: bool = True) -> OpFn:
    def op(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
        x = inputs[0]
        return fn(_as_float(x) if floating else x)

    return op


def _rounding(fn: Callable[[tf.Tensor], tf.Tensor]) -> OpFn:
    # Rounding an integer tensor is the identity in PyTorch; TF has no integer kernels.
    return _unary(lambda x: fn(x) if x.dtype.is_floating else x, floating=False)


def _binary(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> OpFn:
    def op(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
        a, b = _promote([inputs[0], inputs[1]])
        return fn(a, b)

    return op


def _logical(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> OpFn:
    return lambda inputs, attrs: fn(_as_bool(inputs[0]), _as_bool(inputs[1]))


def _hard_sigmoid(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu6(x + 3.0) / 6.0


def _hard_swish(x: tf.Tensor) -> tf.Tensor:
    return x * tf.nn.relu6(x + 3.0) / 6.0


def _gelu(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    approximate = attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: unknown approximate={approximate!r}")
    return tf.nn.gelu(_as_float(inputs[0]), approximate=approximate == "tanh")


def _leaky_relu(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    return tf.nn.leaky_relu(inputs[0], alpha=float(attrs["alpha"]))


def _elu(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x = _as_float(inputs[0])
    alpha = float(attrs.get("alpha", 1.0))
    if alpha == 1.0:
        return tf.nn.elu(x)
    return tf.where(x > 0, x, tf.cast(alpha, x.dtype) * tf.math.expm1(x))


def _clip(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # max(min) in this order makes min > max give max everywhere, as torch.clamp does.
    x = inputs[0]
    if attrs.get("min") is not None:
        x = tf.maximum(x, tf.cast(attrs["min"], x.dtype))
    if attrs.get("max") is not None:
        x = tf.minimum(x, tf.cast(attrs["max"], x.dtype))
    return x


def _true_div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # tf.math.truediv turns int32 into float64; PyTorch gives the default float type.
    return tf.math.truediv(_as_float(a), _as_float(b))


def _floor_div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    if not a.dtype.is_floating:
        return tf.math.floordiv(a, b)
    # PyTorch (like Python's `//`) does not compute floor(a / b), whose rounded quotient can
    # cross an integer (1.0 // 0.1 is 9, floor(1.0 / 0.1) is 10): it divides the exact
    # multiple a - mod(a, b) and rounds that to the nearest integer.
    quotient = (a - tf.math.floormod(a, b)) / b
    floored = tf.floor(quotient)
    floored = tf.where(quotient - floored > 0.5, floored + 1.0, floored)
    return tf.where(tf.equal(b, 0), a / b, floored)


def _where(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    a, b = _promote([inputs[1], inputs[2]])
    return tf.where(_as_bool(inputs[0]), a, b)


def _matmul(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    a, b = _promote([inputs[0], inputs[1]])
    # torch.matmul treats 1-D operands as a row (left) or a column (right) vector and drops
    # that axis from the result; tf.linalg.matmul needs rank >= 2.
    a_vec, b_vec = a.shape.rank == 1, b.shape.rank == 1
    if a_vec:
        a = a[tf.newaxis, :]
    if b_vec:
        b = b[:, tf.newaxis]
    y = tf.linalg.matmul(
        a,
        b,
        transpose_a=bool(attrs.get("transpose_a", False)) and not a_vec,
        transpose_b=bool(attrs.get("transpose_b", False)) and not b_vec,
    )
    if b_vec:
        y = tf.squeeze(y, -1)
    if a_vec:
        y = tf.squeeze(y, -1 if b_vec else -2)
    return y


def _axis_range(x: tf.Tensor, axis: int, begin: int, end: int) -> tf.Tensor:
    index = [slice(None)] * x.shape.rank
    index[axis] = slice(begin, end)
    return x[tuple(index)]


def _edge_pad(x: tf.Tensor, pairs: list[list[int]], circular: bool) -> tf.Tensor:
    # PyTorch's "replicate" repeats the edge element, "circular" wraps around to the other
    # end; one axis after the other, so the corners come out as PyTorch's do.
    for axis, (lo, hi) in enumerate(pairs):
        if not lo and not hi:
            continue
        size = x.shape[axis]
        parts = []
        if lo:
            edge = _axis_range(x, axis, size - lo, size) if circular else _axis_range(x, axis, 0, 1)
            parts.append(edge if circular else tf.repeat(edge, lo, axis=axis))
        parts.append(x)
        if hi:
            edge = _axis_range(x, axis, 0, hi) if circular else _axis_range(x, axis, size - 1, size)
            parts.append(edge if circular else tf.repeat(edge, hi, axis=axis))
        x = tf.concat(parts, axis=axis)
    return x


def _reshape_to(x: tf.Tensor, shape: tf.Tensor, known: list[int] | None) -> tf.Tensor:
    """A reshape to a shape computed at run time, keeping the target's fixed sizes known
    (a Dense layer after it needs its input's last size)."""
    y = tf.reshape(x, tf.cast(shape, tf.int32))
    if known is not None:
        y.set_shape([None if int(d) < 0 else int(d) for d in known])
    return y


def _pad(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    x = inputs[0]
    pads = [int(p) for p in attrs["pads"]]
    rank = x.shape.rank
    if len(pads) != 2 * rank:
        raise ValueError(f"pad: {len(pads)} pads for a rank-{rank} tensor")
    mode = str(attrs.get("mode", "CONSTANT")).upper()
    value = attrs.get("value", 0.0) or 0.0
    pairs = [[max(pads[2 * i], 0), max(pads[2 * i + 1], 0)] for i in range(rank)]
    if any(p for pair in pairs for p in pair):
        if mode == "CONSTANT" and attrs.get("below_all") and x.dtype.is_floating:
            # Padding that no max may pick (max pooling's). -inf there gives the padded tensor
            # an infinite range, which wrecks TF's int8 calibration of it (scale 1e36, 0 dB, a
            # file XNNPACK refuses); the tensor's own minimum is never above a value a max
            # could pick either, and keeps the range the data's.
            x = tf.pad(x, pairs, constant_values=tf.reduce_min(x))
        elif mode == "CONSTANT":
            x = tf.pad(x, pairs, constant_values=tf.cast(value, x.dtype))
        elif mode in ("REPLICATE", "CIRCULAR"):
            x = _edge_pad(x, pairs, circular=mode == "CIRCULAR")
        else:
            x = tf.pad(x, pairs, mode=mode)
    # Negative pads crop, as in torch.nn.functional.pad.
    if any(p < 0 for p in pads):
        begin = [max(-pads[2 * i], 0) for i in range(rank)]
        end = [x.shape[i] - max(-pads[2 * i + 1], 0) for i in range(rank)]
        x = tf.strided_slice(x, begin, end)
    return x


def _slice(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # An `end` of None (never emitted by the core; used by the builder's own slices) means
    # "to the end", which keeps a dynamic batch axis whole.
    ends = attrs["end"]
    end_mask = sum(1 << i for i, e in enumerate(ends) if e is None)
    begin = _bounds(inputs, [int(v) for v in attrs["begin"]], attrs.get("begin_from"))
    end = _bounds(inputs, [0 if e is None else int(e) for e in ends], attrs.get("end_from"))
    return tf.strided_slice(
        inputs[0], begin, end, [int(v) for v in attrs["strides"]], end_mask=end_mask
    )


def _bounds(
    inputs: list[tf.Tensor | None], values: list[int], from_inputs: list[int] | None
) -> list[int] | tf.Tensor:
    """Slice bounds; with free sizes some are read at run time from int32 [1] inputs."""
    if not from_inputs or all(int(k) < 0 for k in from_inputs):
        return values
    parts = [
        tf.reshape(tf.cast(inputs[int(k)], tf.int32), [1])
        if int(k) >= 0
        else tf.constant([v], tf.int32)
        for v, k in zip(values, from_inputs)
    ]
    return tf.concat(parts, axis=0)


def _slice_update(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # The region is static, so its element indices are computed here once, as a constant.
    ranges = [
        np.arange(int(b), int(e), int(s))
        for b, e, s in zip(attrs["begin"], attrs["end"], attrs["strides"])
    ]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).astype(np.int32)
    x, update = inputs[0], tf.cast(inputs[1], inputs[0].dtype)
    return tf.tensor_scatter_nd_update(x, tf.constant(grid), tf.reshape(update, grid.shape[:-1]))


def _gather(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    return tf.gather(inputs[0], inputs[1], axis=int(attrs["axis"]))


def _scatter_nd(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # Zeros with the updates added at their positions (duplicates add up), as TFLite's kernel.
    shape = [int(d) for d in attrs["shape"]]
    return tf.scatter_nd(inputs[0], inputs[1], tf.constant(shape, inputs[0].dtype))


def _top_k(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> list[tf.Tensor]:
    # Sorted, largest first; equal values keep their index order.
    values, indices = tf.math.top_k(inputs[0], k=int(attrs["k"]), sorted=True)
    return [values, tf.cast(indices, tf.int32)]


def _axes(attrs: dict[str, Any]) -> list[int] | None:
    axes = attrs.get("axes")
    return None if axes is None else [int(a) for a in axes]


def _reduction(name: str) -> OpFn:
    def op(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
        x = inputs[0]
        axes, keepdims = _axes(attrs), bool(attrs.get("keepdims", False))
        if name in ("max", "min") and x.dtype == tf.bool:
            fn = tf.reduce_any if name == "max" else tf.reduce_all
            return fn(x, axis=axes, keepdims=keepdims)
        if name in ("sum", "prod") and not x.dtype.is_floating:
            # PyTorch accumulates integer and bool sums and products in int64.
            x = tf.cast(x, tf.int64)
        fn = {
            "mean": tf.reduce_mean,
            "sum": tf.reduce_sum,
            "max": tf.reduce_max,
            "min": tf.reduce_min,
            "prod": tf.reduce_prod,
        }[name]
        return fn(x, axis=axes, keepdims=keepdims)

    return op


def _space_to_depth(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    # The TF-level op is defined as TF's own on [N, H, W, C]: the channel order is TF's.
    return tf.nn.space_to_depth(inputs[0], int(attrs["block_size"]))


def _depth_to_space(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    return tf.nn.depth_to_space(inputs[0], int(attrs["block_size"]))


def _cast(inputs: list[tf.Tensor | None], attrs: dict[str, Any]) -> tf.Tensor:
    return tf.cast(inputs[0], tf.as_dtype(attrs["dtype"]))


_UNARY_FLOAT: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "silu": tf.nn.silu,
    "exp": tf.exp,
    "log": tf.math.log,
    "sqrt": tf.sqrt,
    # PyTorch's CPU rsqrt is 1/sqrt; TF's fused rsqrt differs by an ulp on many inputs.
    "rsqrt": lambda x: 1 / tf.sqrt(x),
    "erf": tf.math.erf,
    "sin": tf.sin,
    "cos": tf.cos,
    "hard_sigmoid": _hard_sigmoid,
    "hard_swish": _hard_swish,
}

_UNARY_ANY: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "neg": tf.negative,
    "abs": tf.abs,
    "identity": tf.identity,
}

_BINARY: dict[str, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = {
    "add": tf.add,
    "sub": tf.subtract,
    "mul": tf.multiply,
    "div": _true_div,
    "floor_div": _floor_div,
    "pow": tf.pow,
    "maximum": tf.maximum,
    "minimum": tf.minimum,
    "equal": tf.equal,
    "not_equal": tf.not_equal,
    "less": tf.less,
    "less_equal": tf.less_equal,
    "greater": tf.greater,
    "greater_equal": tf.greater_equal,
}

OPS: dict[str, OpFn] = {
    **{name: _unary(fn) for name, fn in _UNARY_FLOAT.items()},
    **{name: _unary(fn, floating=False) for name, fn in _UNARY_ANY.items()},
    **{name: _binary(fn) for name, fn in _BINARY.items()},
    "floor": _rounding(tf.floor),
    "ceil": _rounding(tf.math.ceil),
    "round": _rounding(tf.round),  # both round half to even
    "logical_not": lambda inputs, attrs: tf.logical_not(_as_bool(inputs[0])),
    "logical_and": _logical(tf.logical_and),
    "logical_or": _logical(tf.logical_or),
    "gelu": _gelu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "clip": _clip,
    "where": _where,
    "matmul": _matmul,
    "pad": _pad,
    "slice": _slice,
    "slice_update": _slice_update,
    "broadcast_to": lambda inputs, attrs: tf.broadcast_to(
        inputs[0], [int(d) for d in attrs["shape"]]
    ),
    "reshape": lambda inputs, attrs: tf.reshape(inputs[0], [int(d) for d in attrs["shape"]]),
    "dims": lambda inputs, attrs: tf.gather(
        tf.shape(inputs[0], out_type=tf.int32), [int(a) for a in attrs["axes"]]
    ),
    "reshape_to": lambda inputs, attrs: _reshape_to(inputs[0], inputs[1], attrs.get("shape")),
    "range": lambda inputs, attrs: tf.range(*(tf.reshape(i, []) for i in inputs[:3])),
    "fill": lambda inputs, attrs: tf.fill(tf.cast(inputs[0], tf.int32), tf.reshape(inputs[1], [])),
    "transpose": lambda inputs, attrs: tf.transpose(inputs[0], [int(p) for p in attrs["perm"]]),
    "concat": lambda inputs, attrs: tf.concat(_promote(list(inputs)), axis=int(attrs["axis"])),
    **{name: _reduction(name) for name in ("mean", "sum", "max", "min", "prod")},
    "softmax": lambda inputs, attrs: tf.nn.softmax(_as_float(inputs[0]), axis=int(attrs["axis"])),
    "log_softmax": lambda inputs, attrs: tf.nn.log_softmax(
        _as_float(inputs[0]), axis=int(attrs["axis"])
    ),
    "cast": _cast,
    "resize": resize.resize,
    "space_to_depth": _space_to_depth,
    "depth_to_space": _depth_to_space,
    "grid_sample": grid_sample.grid_sample,
    **nn_ops.NN_OPS,
    "atan2": lambda inputs, attrs: tf.math.atan2(
        *_promote([_as_float(inputs[0]), _as_float(inputs[1])])
    ),
    # TF's floormod is fmod plus the divisor where the signs differ: torch.remainder exactly.
    "floor_mod": _binary(tf.math.floormod),
    "cumsum": lambda inputs, attrs: tf.math.cumsum(inputs[0], axis=int(attrs["axis"])),
    "reverse": lambda inputs, attrs: tf.reverse(inputs[0], axis=[int(a) for a in attrs["axes"]]),
    "gather": _gather,
    "scatter_nd": _scatter_nd,
    "top_k": _top_k,
}
