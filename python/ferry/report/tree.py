"""Renders the traced call tree with what happened to each call.

Converted calls show their worst difference from PyTorch; calls with no converter, calls a
rule refused and inaccurate calls are red and show where they were invoked, where they are
defined and what converted them; calls whose results are never used are grey.
"""

from __future__ import annotations

import enum
import math
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
    INHERITED = "inherits error"  # beyond tolerance because an input already was
    FOLDED = "folded"  # computed from constants alone: the converted model holds its value
    UNUSED = "unused"
    INSIDE = "inside"  # part of a call converted as a whole, or of an unsupported one


FAILURES = (NodeStatus.INACCURATE, NodeStatus.UNSUPPORTED, NodeStatus.FAILED)


@dataclass
class NodeInfo:
    status: NodeStatus
    message: str = ""
    converted_by: str = ""
    inherits_from: int | None = None  # INHERITED: the diverging call the error comes from


_COLORS = {
    NodeStatus.CONVERTED: "\033[32m",
    NodeStatus.INACCURATE: "\033[31m",
    NodeStatus.UNSUPPORTED: "\033[31m",
    NodeStatus.FAILED: "\033[31m",
    NodeStatus.INHERITED: "\033[33m",
    NodeStatus.FOLDED: "\033[36m",
    NodeStatus.UNUSED: "\033[90m",
}
_RESET = "\033[0m"
_MARKS = {
    NodeStatus.CONVERTED: "✓",
    NodeStatus.INACCURATE: "≠",
    NodeStatus.UNSUPPORTED: "✗",
    NodeStatus.FAILED: "✗",
    NodeStatus.INHERITED: "↳",
    NodeStatus.FOLDED: "◦",
    NodeStatus.UNUSED: "·",
}
LEGEND = (
    "✓ converted [max abs diff]   ≠ beyond tolerance   ↳ inherits an earlier call's error   "
    "◦ folded (computed from constants)   ✗ cannot convert   · unused"
)


def statuses(
    trace: Trace,
    converted: list[int],
    unused: list[int],
    unsupported: list[tuple[int, str]],
    errors: list[tuple[int, str]],
    report: ValidationReport | None,
    converted_by: dict[int, str],
    folded: list[int] | None = None,
) -> dict[int, NodeInfo]:
    info: dict[int, NodeInfo] = {}
    for nid in converted:
        diff = ""
        if report and nid in report.nodes:
            check = report.nodes[nid]
            diff = f"diff {check.max_abs:.2g}"
            if report.quantized and math.isfinite(check.sqnr_db):
                # What quantization cost here.
                diff += f", SQNR {check.sqnr_db:.1f} dB, cosine {check.cosine:.4f}"
        info[nid] = NodeInfo(NodeStatus.CONVERTED, diff, converted_by.get(nid, ""))
        if report and nid in report.nodes and not report.nodes[nid].ok:
            check = report.nodes[nid]
            diffs = f"max abs diff {check.max_abs:.3g}, max rel diff {check.max_rel:.3g}"
            if not check.checked:
                diffs = (
                    "its result is not kept in the converted model (fused or removed); the "
                    f"next checked call differs by {check.max_abs:.3g}"
                )
            source = report.inherited.get(nid)
            if source is not None:
                info[nid] = NodeInfo(
                    NodeStatus.INHERITED,
                    f"inherits error from {call_name(trace, source)}; {diffs}",
                    converted_by.get(nid, ""),
                    source,
                )
            else:
                first = report.first_divergent is not None and report.first_divergent.node == nid
                info[nid] = NodeInfo(
                    NodeStatus.INACCURATE,
                    ("first divergent call: " if first else "") + diffs,
                    converted_by.get(nid, ""),
                )
    for nid in unused:
        info[nid] = NodeInfo(NodeStatus.UNUSED)
    for nid in folded or []:
        # A folded value holds what PyTorch computed; only a live one is checked (by the
        # calls that read it), so the mark says where it came from, not a difference.
        if nid not in info or info[nid].status in (NodeStatus.CONVERTED, NodeStatus.UNUSED):
            info[nid] = NodeInfo(NodeStatus.FOLDED, info[nid].message if nid in info else "")
    for nid, message in unsupported:
        info[nid] = NodeInfo(NodeStatus.UNSUPPORTED, message)
        top = converter_site(trace, nid)
        if top != nid and top not in info:
            info[top] = NodeInfo(
                NodeStatus.UNSUPPORTED,
                f"no converter: write one for this call ({trace.nodes[top].op})",
            )
    for nid, message in errors:
        if nid >= 0:
            info[nid] = NodeInfo(NodeStatus.FAILED, message, converted_by.get(nid, ""))
    return info


def converter_site(trace: Trace, nid: int) -> int:
    """The highest call that wraps nothing but this one (F.hardsigmoid around
    aten.hardsigmoid, nn.Hardsigmoid around both): where a user converter would go."""
    node = trace.nodes[nid]
    while node.parent >= 0:
        parent = trace.nodes[node.parent]
        if parent.parent < 0 or len(parent.children) != 1:  # never the model itself
            break
        node = parent
    return node.id


def call_name(trace: Trace, nid: int) -> str:
    """A call as a user finds it: op, module path, and where it was invoked."""
    node = trace.nodes[nid]
    text = node.op
    if node.scope:
        text += f" [{node.scope}]"
    if node.invoked:
        text += f" at {node.invoked}"
    return text


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
    trace: Trace,
    info: dict[int, NodeInfo],
    color: bool | None = None,
    stream=None,
    failures_only: bool = False,
    legend: bool = True,
) -> str:
    """The call tree; with `failures_only`, just the failing calls and the calls around them."""
    stream = stream or sys.stdout
    color = _use_color(stream) if color is None else color
    lines: list[str] = [LEGEND] if legend else []

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
        if entry and entry.status in FAILURES:
            if node.invoked:
                lines.append(child_prefix + paint(status, f"    Invoked:   {node.invoked}"))
            if node.defined:
                lines.append(child_prefix + paint(status, f"    Defined:   {node.defined}"))
            if entry.converted_by:
                lines.append(child_prefix + paint(status, f"    Converted: {entry.converted_by}"))
        # A call converted as a whole hides its insides; otherwise show how it was split.
        if entry and entry.status in (
            NodeStatus.CONVERTED,
            NodeStatus.FOLDED,
            NodeStatus.INACCURATE,
            NodeStatus.INHERITED,
            NodeStatus.FAILED,
        ):
            return
        children = [c for c in node.children if _shows(c)]
        for i, child in enumerate(children):
            visit(child, child_prefix, i == len(children) - 1, False)

    def _shows(nid: int) -> bool:
        # Inside an unconverted call only the parts that matter are listed.
        entry = info.get(nid)
        if entry is not None and (not failures_only or entry.status in FAILURES):
            return True
        return any(_shows(c) for c in trace.nodes[nid].children)

    for root in trace.roots:
        if _shows(root) or not failures_only:
            visit(root, "", True, True)
    return "\n".join(lines)
