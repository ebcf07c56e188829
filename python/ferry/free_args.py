"""Arguments that follow a free size, encoded for the core.

A size argument (`torch.arange(t)`, `torch.zeros(b, t)`) becomes `<arg>_expr`: the index of
each size's expression in the core's table, -1 where it is fixed.

A static index is resolved against the traced shape (negative and out-of-range bounds made
plain). On a free dim that would be wrong at other sizes, so the core gets each bound as
PyTorch wrote it: a non-negative constant stays a constant (the slice clamps it at run time
as PyTorch does), a bound that follows a free size or counts from the end of a free dim is a
size expression read at run time, and "to the end" is an end past every size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ferry.trace.model import Trace, TraceNode
from ferry.trace.symbolic import DimExpr

# An end bound past every size: the slice clamps it to the dim, "to the end".
TO_THE_END = 2**31 - 1

Encoded = list[tuple[str, list[int], bool, Any]]


def free_size_args(node: TraceNode, add_expr: Callable[[DimExpr], int]) -> Encoded:
    """`<arg>_expr` for each argument holding a free size, of an int or a list of ints."""
    encoded: Encoded = []
    for name, value in node.sym_values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if name == "index" or not all(isinstance(v, (int, DimExpr)) for v in items):
            continue
        exprs = [add_expr(v) if isinstance(v, DimExpr) else -1 for v in items]
        encoded.append((f"{name}_expr", [], False, exprs))
    return encoded


def free_getitem(trace: Trace, node: TraceNode, add_expr: Callable[[DimExpr], int]) -> Encoded:
    """The free-size attributes of `x[index]` (the core's lower_free_getitem), or [] when
    neither x's sizes nor the index follow a free size."""
    source = trace.values[node.args["input"].value]
    in_dims = source.dims or tuple(source.shape)
    index = node.sym_values.get("index", node.args["index"])
    if all(isinstance(d, int) for d in in_dims) and "index" not in node.sym_values:
        return []
    out = trace.values[node.output_refs()[0].value]
    out_dims = out.dims or tuple(out.shape)
    items = _expanded(index if isinstance(index, tuple) else (index,), len(in_dims))

    begin, end, begin_expr, end_expr, shape, sym = [], [], [], [], [], []
    position = 0  # in the output, which has a unit dim for every None and none for an int
    d = 0
    for item in items:
        if item is None:
            position += 1
            continue
        size, hint = in_dims[d], int(source.shape[d])
        d += 1
        if isinstance(item, slice):
            step = _step(item.step, node)
            if isinstance(size, int) and not _follows(item.start) and not _follows(item.stop):
                b, e, _ = slice(item.start, item.stop, step).indices(hint)
                bounds = (b, -1, max(e, b), -1)
            else:
                bounds = (
                    *_bound(item.start, size, 0, add_expr),
                    *_bound(item.stop, size, TO_THE_END, add_expr),
                )
            length = out_dims[position]
            shape.append(int(out.shape[position]))
            sym.append(add_expr(length) if isinstance(length, DimExpr) else -1)
            position += 1
        else:
            bounds = _at(item, size, add_expr)
            shape.append(1)
            sym.append(-1)
        begin.append(bounds[0])
        begin_expr.append(bounds[1])
        end.append(bounds[2])
        end_expr.append(bounds[3])
    return [
        ("free_begin", [], False, begin),
        ("free_end", [], False, end),
        ("begin_expr", [], False, begin_expr),
        ("end_expr", [], False, end_expr),
        ("slice_shape", [], False, shape),
        ("slice_sym", [], False, sym),
    ]


def _expanded(index: tuple[Any, ...], rank: int) -> list[Any]:
    """The index with its ellipsis spelt out and trailing dims taken whole."""
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    items: list[Any] = []
    for item in index:
        if item is Ellipsis:
            items.extend([slice(None)] * (rank - consumed))
        else:
            items.append(item)
    used = sum(1 for i in items if i is not None)
    return items + [slice(None)] * (rank - used)


def _follows(bound: Any) -> bool:
    return isinstance(bound, DimExpr)


def _step(step: Any, node: TraceNode) -> int:
    if isinstance(step, DimExpr):
        raise ValueError(
            f"ferry: {node.invoked}: a slice step that follows a free size is not supported; "
            "make that dim static"
        )
    return 1 if step is None else int(step)


def _from_end(size: Any, offset: int) -> DimExpr:
    """max(size + offset, 0): a negative bound on a free dim, clamped as PyTorch does."""
    return DimExpr("max", (DimExpr("add", (size, offset)), 0))


def _bound(
    value: Any, size: Any, absent: int, add_expr: Callable[[DimExpr], int]
) -> tuple[int, int]:
    """A slice bound as (constant, expression index or -1); `absent` stands for None (0 for a
    start, past every size for an end)."""
    if value is None:
        return absent, -1
    if isinstance(value, DimExpr):
        return 0, add_expr(value)
    if value >= 0:
        return int(value), -1
    if isinstance(size, int):
        return max(size + value, 0), -1
    return 0, add_expr(_from_end(size, int(value)))


def _at(item: Any, size: Any, add_expr: Callable[[DimExpr], int]) -> tuple[int, ...]:
    """An int index: the one position [i, i + 1)."""
    if isinstance(item, DimExpr):
        return 0, add_expr(item), 0, add_expr(DimExpr("add", (item, 1)))
    i = int(item)
    if i >= 0:
        return i, -1, i + 1, -1
    if isinstance(size, int):
        return size + i, -1, size + i + 1, -1
    at = DimExpr("add", (size, i))
    return 0, add_expr(at), 0, add_expr(DimExpr("add", (at, 1)))
