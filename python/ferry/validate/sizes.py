"""A model converted with free sizes, run at other sizes than the traced one.

The per-call checks compare every converted call with PyTorch at the traced size; a size
expression that is right there can still be wrong elsewhere. `validate_shapes` lists other
sizes: the converted model runs at each on fresh random inputs, against PyTorch on the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ferry.tfgraph import TfGraph
from ferry.trace.model import Trace
from ferry.trace.structures import iter_tensors, map_tensors
from ferry.validate.compare import differences, scale_of, torch_as_tf

Shapes = tuple[tuple[int, ...], ...]  # one shape per model input, PyTorch order


@dataclass(frozen=True)
class SizeCheck:
    shapes: Shapes
    max_abs: tuple[float, ...]  # per output
    scales: tuple[float, ...]  # max(1, |PyTorch|) per output: the tolerance is relative to it
    ok: bool

    def describe(self, names: Sequence[str]) -> str:
        sizes = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, self.shapes))
        diffs = ", ".join(f"{d:.3g}" for d in self.max_abs)
        return f"at {sizes}: max abs diff {diffs}"


def size_entries(
    validate_shapes: Any,
    inputs: list[torch.Tensor],
    names: list[str],
    free: dict[int, dict[int, str]],
) -> list[Shapes]:
    """The sizes to check, one shape per input each; clear errors before any work. An entry
    is a shape (a model with one input), a list of shapes (one per input), or a dict from
    input (tensor or name) to shape, other inputs keeping their traced shape."""
    if validate_shapes is None:
        return []
    if isinstance(validate_shapes, (str, bytes)) or not isinstance(validate_shapes, Sequence):
        raise TypeError(
            f"ferry: validate_shapes must be a list of sizes, got {type(validate_shapes).__name__}"
        )
    if validate_shapes and not free:
        raise ValueError(
            "ferry: validate_shapes runs the converted model at other sizes, but no input dim "
            "is free (give None in input_shapes, or dynamic_dims)"
        )
    entries = []
    for k, entry in enumerate(validate_shapes):
        shapes = _per_input(entry, inputs, names, k)
        symbols: dict[str, int] = {}
        for i, (shape, x) in enumerate(zip(shapes, inputs)):
            where = f"validate_shapes[{k}] gives {shape} for input '{names[i]}' of shape {tuple(x.shape)}"
            if len(shape) != x.dim():
                raise ValueError(f"ferry: {where}: another rank")
            for d, size in enumerate(shape):
                symbol = free.get(i, {}).get(d)
                if symbol is None and size != x.shape[d]:
                    raise ValueError(f"ferry: {where}: dim {d} is not free")
                if symbol is not None and size < 1:
                    raise ValueError(f"ferry: {where}: dim {d} must be at least 1")
                if symbol is not None and symbols.setdefault(symbol, size) != size:
                    raise ValueError(
                        f"ferry: {where}: dim {d} is '{symbol}', given {symbols[symbol]} elsewhere"
                    )
        entries.append(shapes)
    return entries


def _per_input(entry: Any, inputs: list[torch.Tensor], names: list[str], k: int) -> Shapes:
    traced = [tuple(int(s) for s in x.shape) for x in inputs]
    if isinstance(entry, dict):
        shapes = list(traced)
        for key, shape in entry.items():
            matches = [i for i, (x, n) in enumerate(zip(inputs, names)) if key is x or key == n]
            if not matches:
                raise ValueError(f"ferry: validate_shapes[{k}] names {key!r}, not an input")
            shapes[matches[0]] = tuple(int(s) for s in shape)
        return tuple(shapes)
    items = list(entry) if isinstance(entry, (list, tuple, torch.Size)) else None
    if items is None:
        raise TypeError(f"ferry: validate_shapes[{k}] must be a shape, got {entry!r}")
    if all(isinstance(s, int) for s in items):
        if len(inputs) != 1:
            raise ValueError(
                f"ferry: validate_shapes[{k}] is one shape for a model of {len(inputs)} inputs; "
                "give one shape per input, or a dict"
            )
        return (tuple(items),)
    if len(items) != len(inputs):
        raise ValueError(
            f"ferry: validate_shapes[{k}] gives {len(items)} shapes for {len(inputs)} inputs"
        )
    return tuple(tuple(int(s) for s in shape) for shape in items)


def fresh_like(example: torch.Tensor, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Random values like the example's: normal floats, integers within the example's range
    (token ids stay valid), booleans of both values."""
    g = torch.Generator().manual_seed(seed)
    if example.is_floating_point():
        return torch.randn(shape, generator=g, dtype=example.dtype)
    if example.dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    low = int(example.min()) if example.numel() else 0
    high = int(example.max()) if example.numel() else 1
    return torch.randint(low, high + 1, shape, generator=g, dtype=example.dtype)


def _replaced(
    args: Sequence[Any], kwargs: dict[str, Any] | None, swap: dict[int, torch.Tensor]
) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments with the example inputs swapped for fresh ones (copies: the
    caller's structures are left as they are)."""
    return map_tensors((list(args), kwargs or {}), lambda t: swap.get(id(t), t))


def check_sizes(
    entries: list[Shapes],
    model: Any,
    args: Sequence[Any],
    kwargs: dict[str, Any] | None,
    inputs: list[torch.Tensor],
    trace: Trace,
    graph: TfGraph,
    run: Callable[[list[np.ndarray]], list[np.ndarray]],
    tolerance: float,
) -> list[SizeCheck]:
    """Runs PyTorch and the converted model (`run`, on inputs laid out as it takes them) at
    each size; the caller's model and tensors are left as they are."""
    checks = []
    order = {vid: k for k, vid in enumerate(trace.inputs)}
    for n, shapes in enumerate(entries):
        fresh = [fresh_like(x, s, seed=n) for x, s in zip(inputs, shapes)]
        call_args, call_kwargs = _replaced(args, kwargs, dict(zip(map(id, inputs), fresh)))
        with torch.no_grad():
            expected = list(iter_tensors(model(*call_args, **call_kwargs)))
        feed = []
        for vid in graph.inputs:
            value = graph.values[vid]
            feed.append(torch_as_tf(fresh[order[value.origin]], value.perm))
        got = run(feed)
        max_abs, scales, ok = [], [], True
        for k, vid in enumerate(graph.outputs):
            want = torch_as_tf(expected[k], graph.values[vid].perm)
            if np.shape(got[k]) != want.shape:
                max_abs.append(float("inf"))
                scales.append(1.0)
                ok = False
                continue
            diff = differences(want, np.asarray(got[k]))[0]
            scale = scale_of(want)
            max_abs.append(diff)
            scales.append(scale)
            ok = ok and diff <= tolerance * scale
        checks.append(SizeCheck(shapes, tuple(max_abs), tuple(scales), ok))
    return checks
