"""Renders the traced call tree with what happened to each call.

Converted calls show their worst difference from PyTorch; calls with no converter, calls a
rule refused and inaccurate calls are red and show where they were invoked, where they are
defined and what converted them; calls whose results are never used are grey.
"""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass

from ferry.trace.model import Trace, TraceNode, iter_refs
from ferry.validate import ValidationReport


class NodeStatus(enum.Enum):
    CONVERTED = "converted"
    INACCURATE = "inaccurate"
    UNSUPPORTED = "no converter"
    FAILED = "conversion failed"
    UNUSED = "unused"
    INSIDE = "inside"  # part of a call converted as a whole, or of an unsupported one


@dataclass
class NodeInfo:
    status: NodeStatus
    message: str = ""
    converted_by: str = ""


_COLORS = {
    NodeStatus.CONVERTED: "\033[32m",
    NodeStatus.INACCURATE: "\033[31m",
    NodeStatus.UNSUPPORTED: "\033[31m",
    NodeStatus.FAILED: "\033[31m",
    NodeStatus.UNUSED: "\033[90m",
}
_RESET = "\033[0m"
_MARKS = {
    NodeStatus.CONVERTED: "✓",
    NodeStatus.INACCURATE: "≠",
    NodeStatus.UNSUPPORTED: "✗",
    NodeStatus.FAILED: "✗",
    NodeStatus.UNUSED: "·",
}


def statuses(
    trace: Trace,
    converted: list[int],
    unused: list[int],
    unsupported: list[tuple[int, str]],
    errors: list[tuple[int, str]],
    report: ValidationReport | None,
    converted_by: dict[int, str],
) -> dict[int, NodeInfo]:
    info: dict[int, NodeInfo] = {}
    for nid in converted:
        diff = ""
        if report and nid in report.nodes:
            diff = f"diff {report.nodes[nid].max_abs:.2g}"
        info[nid] = NodeInfo(NodeStatus.CONVERTED, diff, converted_by.get(nid, ""))
        if report and nid in report.nodes and not report.nodes[nid].ok:
            check = report.nodes[nid]
            info[nid] = NodeInfo(
                NodeStatus.INACCURATE,
                f"max abs diff {check.max_abs:.3g}, max rel diff {check.max_rel:.3g}",
                converted_by.get(nid, ""),
            )
    for nid in unused:
        info[nid] = NodeInfo(NodeStatus.UNUSED)
    for nid, message in unsupported:
        info[nid] = NodeInfo(NodeStatus.UNSUPPORTED, message)
    for nid, message in errors:
        if nid >= 0:
            info[nid] = NodeInfo(NodeStatus.FAILED, message, converted_by.get(nid, ""))
    return info


def _use_color(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def _describe_values(trace: Trace, structure) -> str:
    parts = []
    for ref in iter_refs(structure):
        v = trace.values[ref.value]
        dtype = str(v.dtype).replace("torch.", "")
        parts.append(f"{dtype}_{v.id}<{','.join(str(d) for d in v.shape)}>")
    return ", ".join(parts)


def _title(trace: Trace, node: TraceNode) -> str:
    name = node.op
    if node.kind.value == "module" and node.scope:
        name = f"{node.op.rsplit('.', 1)[-1]}[{node.scope}]"
    return (
        f"{name}({_describe_values(trace, node.args)}) -> ({_describe_values(trace, node.outputs)})"
    )


def render_tree(
    trace: Trace, info: dict[int, NodeInfo], color: bool | None = None, stream=None
) -> str:
    stream = stream or sys.stdout
    color = _use_color(stream) if color is None else color
    lines: list[str] = []

    def paint(status: NodeStatus, text: str) -> str:
        if not color or status not in _COLORS:
            return text
        return f"{_COLORS[status]}{text}{_RESET}"

    def visit(nid: int, prefix: str, last: bool, root: bool) -> None:
        node = trace.nodes[nid]
        entry = info.get(nid)
        connector = "" if root else ("└─ " if last else "├─ ")
        status = entry.status if entry else NodeStatus.INSIDE
        mark = _MARKS.get(status, " ")
        text = f"{mark} {_title(trace, node)}"
        if entry and entry.message:
            text += f"  [{entry.message}]"
        lines.append(prefix + connector + paint(status, text))
        child_prefix = prefix + ("" if root else ("   " if last else "│  "))
        if entry and entry.status in (
            NodeStatus.UNSUPPORTED,
            NodeStatus.FAILED,
            NodeStatus.INACCURATE,
        ):
            if node.invoked:
                lines.append(child_prefix + paint(status, f"    Invoked:   {node.invoked}"))
            if node.defined:
                lines.append(child_prefix + paint(status, f"    Defined:   {node.defined}"))
            if entry.converted_by:
                lines.append(child_prefix + paint(status, f"    Converted: {entry.converted_by}"))
        # A call converted as a whole hides its insides; otherwise show how it was split.
        if entry and entry.status in (
            NodeStatus.CONVERTED,
            NodeStatus.INACCURATE,
            NodeStatus.FAILED,
        ):
            return
        children = [c for c in node.children if _shows(c)]
        for i, child in enumerate(children):
            visit(child, child_prefix, i == len(children) - 1, False)

    def _shows(nid: int) -> bool:
        # Inside an unconverted call only the parts that matter are listed.
        if nid in info:
            return True
        return any(_shows(c) for c in trace.nodes[nid].children)

    for root in trace.roots:
        visit(root, "", True, True)
    return "\n".join(lines)
