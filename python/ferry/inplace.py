"""In-place writes into views, made functional for the core.

The tracer records a write through a view truthfully: the view gets a new value and so does
its base. TensorFlow has no views, so the base's new value must be computed: it is the old
base with the written region replaced (`x[region] = new view`). This module finds those
writes and describes each as one extra call for the core, `ferry.view_write`, placed right
after the call that wrote; `x[index] = value` (`__setitem__`) is described the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferry.trace.model import NodeKind, TensorRef, Trace, TraceNode

Region = dict[str, list[int]]  # begin, end, step (one entry per base dim), squeeze_dims


@dataclass
class ViewWrite:
    writer: int  # the trace node that wrote through the view
    args: list[tuple[str, list[int], bool, Any]]
    output: int  # the base's value after the write


def new_base_value(trace: Trace, node: TraceNode, base_before: int) -> int | None:
    for vid in node.mutated:
        if trace.values[vid].previous == base_before:
            return vid
    return None


def _compose(
    region: Region, dim_map: list[int], dim: int, start: int, end: int, step: int, size: int
) -> None:
    """Applies a slice of the current view's `dim` to the region over the base."""
    start, end, step = slice(start, end, step).indices(size)
    base_dim = dim_map[dim]
    b, s = region["begin"][base_dim], region["step"][base_dim]
    count = max(0, (end - start + step - 1) // step)
    region["begin"][base_dim] = b + start * s
    region["step"][base_dim] = s * step
    region["end"][base_dim] = (
        region["begin"][base_dim] + (count - 1) * region["step"][base_dim] + 1
        if count
        else region["begin"][base_dim]
    )


def region_of_view(trace: Trace, view: int, base: int) -> Region | None:
    """The region of `base` that `view` shows, when it was made by slices and selects only."""
    chain = []
    cur = view
    while cur != base:
        value = trace.values[cur]
        if (
            value.previous >= 0
            and value.view_of >= 0
            and trace.values[value.previous].view_of == value.view_of
        ):
            cur = value.previous  # an earlier version of the same view: same region
            continue
        if value.producer < 0:
            return None
        producer = trace.nodes[value.producer]
        source = producer.args.get("self", producer.args.get("input"))
        if producer.kind != NodeKind.ATEN or not isinstance(source, TensorRef):
            return None
        # Which of the producer's outputs the view is (split, chunk and unbind make several).
        index = [r.value for r in producer.output_refs()].index(cur)
        chain.append((producer, index))
        cur = source.value
    shape = trace.values[base].shape
    region: Region = {
        "begin": [0] * len(shape),
        "end": list(shape),
        "step": [1] * len(shape),
        "squeeze_dims": [],
    }
    dim_map = list(range(len(shape)))  # view dim -> base dim
    view_shape = list(shape)
    for op, index in reversed(chain):
        name = op.op
        pieces = _piece(op, index, view_shape)
        if pieces is not None:  # one piece of split / chunk / unbind / narrow: a slice
            dim, start, end, drop = pieces
            _compose(region, dim_map, dim, start, end, 1, view_shape[dim])
            if drop:
                region["squeeze_dims"].append(dim_map[dim])
                del dim_map[dim], view_shape[dim]
            else:
                view_shape[dim] = end - start
        elif name.startswith("aten.slice."):
            dim = op.args.get("dim", 0) % len(view_shape)
            start = op.args.get("start") or 0
            end = op.args.get("end")
            step = op.args.get("step") or 1
            _compose(
                region,
                dim_map,
                dim,
                start,
                end if end is not None else view_shape[dim],
                step,
                view_shape[dim],
            )
            view_shape[dim] = len(range(*slice(start, end, step).indices(view_shape[dim])))
        elif name.startswith("aten.select."):
            dim = op.args["dim"] % len(view_shape)
            index = op.args["index"] % view_shape[dim]
            _compose(region, dim_map, dim, index, index + 1, 1, view_shape[dim])
            region["squeeze_dims"].append(dim_map[dim])
            del dim_map[dim], view_shape[dim]
        elif name.startswith(("aten.alias.", "aten.detach.")):
            continue
        else:
            return None
    region["squeeze_dims"].sort()
    return region


def _piece(op: TraceNode, index: int, shape: list[int]) -> tuple[int, int, int, bool] | None:
    """For a call that cuts its input into pieces along one dim: (dim, start, end, whether
    the dim is dropped) of output `index`; None for any other call."""
    name, args = op.op, op.args
    dim = args.get("dim", 0) % len(shape) if shape else 0
    if name.startswith(("aten.unbind.", "aten.unbind_copy.")):
        return dim, index, index + 1, True
    if name.startswith("aten.narrow."):
        start = args["start"] % shape[dim] if args["start"] < 0 else args["start"]
        return dim, start, start + args["length"], False
    size = shape[dim] if shape else 0
    if name.startswith(("aten.split.", "aten.split_copy.")) and isinstance(
        args.get("split_size"), int
    ):
        sizes = [min(args["split_size"], size - o) for o in range(0, size, args["split_size"])]
    elif name.startswith(
        ("aten.split_with_sizes.", "aten.split.sizes", "aten.split_with_sizes_copy.")
    ):
        sizes = list(args.get("split_sizes", args.get("split_size", [])))
    elif name.startswith("aten.chunk."):
        step = -(-size // args["chunks"]) if size else 0
        sizes = [min(step, size - o) for o in range(0, size, step)] if step else []
    else:
        return None
    if index >= len(sizes):
        return None
    start = sum(sizes[:index])
    return dim, start, start + sizes[index], False


def _region_args(region: Region) -> list[tuple[str, list[int], bool, Any]]:
    return [(key, [], False, region[key]) for key in ("begin", "end", "step", "squeeze_dims")]


def view_writes(trace: Trace) -> list[ViewWrite]:
    """One write-back per in-place call on a view, at the outermost call that made it."""
    out = []
    for node in trace.nodes:
        if node.kind == NodeKind.ATEN or not node.view_writes or node.op.endswith("__setitem__"):
            continue
        parent = trace.nodes[node.parent] if node.parent >= 0 else None
        if parent is not None and parent.kind == NodeKind.FUNCTION and parent.view_writes:
            continue  # the enclosing call carries the same write
        for view_after, base_before in node.view_writes:
            base_after = new_base_value(trace, node, base_before)
            region = region_of_view(trace, view_after, base_before)
            if base_after is None or region is None:
                continue
            args = [("input", [base_before], False, None), ("value", [view_after], False, None)]
            out.append(ViewWrite(node.id, args + _region_args(region), base_after))
    return out


def setitem_output(trace: Trace, node: TraceNode) -> list[int]:
    """`x[index] = value` returns None; what it computes is x's next value."""
    source = node.args.get("input")
    if not isinstance(source, TensorRef):
        return []
    after = new_base_value(trace, node, source.value)
    return [after] if after is not None else []


def last_descendant(trace: Trace, nid: int) -> int:
    node = trace.nodes[nid]
    while node.children:
        node = trace.nodes[node.children[-1]]
    return node.id
