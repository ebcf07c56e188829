"""Helpers for the tracer tests: find nodes, follow refs, check the tree invariants."""

from __future__ import annotations

import inspect

from ferry.trace import TensorRef, Trace, TraceNode


def nodes(trace: Trace, op: str) -> list[TraceNode]:
    return [n for n in trace.nodes if n.op == op]


def one(trace: Trace, op: str) -> TraceNode:
    found = nodes(trace, op)
    assert len(found) == 1, f"{op}: {len(found)} nodes"
    return found[0]


def children(trace: Trace, node: TraceNode) -> list[TraceNode]:
    return [trace.nodes[c] for c in node.children]


def ref(obj: object) -> int:
    assert isinstance(obj, TensorRef), obj
    return obj.value


def line_of(fn: object, marker: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, text in enumerate(lines) if marker in text)


def check_tree(trace: Trace) -> None:
    for i, node in enumerate(trace.nodes):
        assert node.id == i
        assert node.parent < i
        for c in node.children:
            assert trace.nodes[c].parent == i
    assert trace.roots == [n.id for n in trace.nodes if n.parent == -1]
