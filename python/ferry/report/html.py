"""The conversion tree as one self-contained, interactive HTML page.

The page is plain HTML rendered here (readable without scripts); the inline script in
assets/report.js adds collapsing, the status filter and the search. Nothing is fetched from
anywhere: the style and the script are inlined, links point only into the page and to the
user's source files (file://).
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ferry.files import atomic_path
from ferry.report import tree as tree_module
from ferry.report.page import PageSummary
from ferry.report.tree import NodeInfo, NodeStatus
from ferry.trace.model import SourceLocation, Trace, TraceNode, ValueKind, iter_refs

OPEN_DEPTH = 2  # calls deeper than this start collapsed (unless a failure is inside)


@dataclass(frozen=True)
class _Look:
    mark: str
    css: str  # colour class
    whole: bool  # converted as a whole: its insides are not listed


# By member name, so that the page still renders if NodeStatus changes; a status added later
# gets a neutral mark until it is given one here.
_LOOKS = {
    "CONVERTED": _Look("✓", "ok", whole=True),
    "INACCURATE": _Look("≠", "bad", whole=True),
    "UNSUPPORTED": _Look("✗", "bad", whole=False),
    "FAILED": _Look("✗", "bad", whole=True),
    "INHERITED": _Look("↳", "warn", whole=True),
    "FOLDED": _Look("◦", "ok", whole=True),
    "UNUSED": _Look("·", "muted", whole=False),
    "INSIDE": _Look("", "plain", whole=False),
}
_OTHER = _Look("•", "warn", whole=False)
# What the "failures" filter lists and what opens by default: the terminal's notion of a
# failure when tree.py states one (calls that inherit an error are not the place to look).
_FAILURES = frozenset(
    getattr(
        tree_module, "FAILURES", (NodeStatus.INACCURATE, NodeStatus.UNSUPPORTED, NodeStatus.FAILED)
    )
)


def _look(status: Any) -> _Look:
    return _LOOKS.get(getattr(status, "name", ""), _OTHER)


def _failing(status: Any) -> bool:
    return status in _FAILURES


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def write_html(
    path: str | os.PathLike[str],
    trace: Trace,
    info: Mapping[int, NodeInfo],
    summary: PageSummary | str,
) -> str:
    """Writes the page (atomically) and returns its absolute path.

    `summary` may be just the model's name (a conversion that stopped before validation
    knows little more)."""
    if isinstance(summary, str):
        summary = PageSummary(model=summary.removeprefix("Ferry: "))
    target = os.path.abspath(os.fspath(path))
    summary = dataclasses.replace(summary, path=target)
    page = render_page(trace, info, summary)
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    return target


def _asset(name: str) -> str:
    return (resources.files("ferry.report") / "assets" / name).read_text(encoding="utf-8")


def render_page(trace: Trace, info: Mapping[int, NodeInfo], summary: PageSummary) -> str:
    tree = _Tree(trace, info, summary)
    body = "".join(tree.render(root, 0) for root in trace.roots)
    title = f"Ferry: {summary.model}"
    # "</" cannot close the inline script or style early: the assets hold none.
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_asset('report.css')}</style></head>"
        f"<body>{_header(summary, tree)}"
        f"<main><ul class='tree' id='tree'>{body}</ul>"
        "<p class='empty' id='empty' hidden>No call matches.</p>"
        f"{_quantization_table(summary, tree)}</main>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


# --- header ---------------------------------------------------------------------------------


def _header(s: PageSummary, tree: _Tree) -> str:
    backend = {"keras": "Keras 3", "tflite": "TFLite"}.get(s.backend or "", s.backend or "")
    facts = [("Back end", _e(backend))] if backend else []
    if s.worst_diff is not None:
        where = f" at {tree.node_link(s.worst_node)}" if s.worst_node is not None else ""
        tol = f" (tolerance {s.tolerance:.3g})" if s.tolerance is not None else ""
        facts.append(("Worst difference", f"<b>{s.worst_diff:.3g}</b>{where}{_e(tol)}"))
    if s.first_divergent is not None:
        facts.append(("First divergent call", tree.node_link(s.first_divergent)))
    elif s.tolerance is not None:
        facts.append(("First divergent call", "none: every checked call is within tolerance"))
    if s.sizes:
        facts.append(
            (
                "Other sizes",
                "<br>".join(f"{'✓' if ok else '≠'} {_e(text)}" for text, ok in s.sizes),
            )
        )
    if s.output_sqnr_db:
        facts.append(("Output SQNR", ", ".join(f"{db:.1f} dB" for db in s.output_sqnr_db)))
    if s.quantization:
        facts.append(
            (
                "Quantization noise, worst first",
                "<br>".join(f"{tree.node_link(nid)}: {_e(text)}" for nid, text in s.quantization),
            )
        )
    if s.transposes is not None:
        moved = f", {_bytes(s.bytes_moved)} moved per inference" if s.bytes_moved else ""
        facts.append(("Transposes", f"{s.transposes}{_e(moved)}"))
    if s.stage_seconds:
        # No total: stages may nest (the core's stages run inside "converting").
        facts.append(("Time", " · ".join(f"{_e(n)} {_duration(t)}" for n, t in s.stage_seconds)))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    counts = dict(s.counts) or tree.counts
    failing = sum(n for st, n in counts.items() if _failing(st))
    chips = [
        _chip("all", "", "All calls", sum(counts.values())),
        _chip("failures", "", "Failures", failing, "bad" if failing else "ok"),
    ]
    for status in NodeStatus:
        if status.name != "INSIDE":
            look = _look(status)
            chips.append(
                _chip(status.name, look.mark, status.value, counts.get(status, 0), look.css)
            )
    return (
        f"<header><h1>Ferry <span class='dim'>·</span> {_e(s.model)}</h1>"
        + (f"<p class='dim path'>{_e(s.path)}</p>" if s.path else "")
        + f"<dl class='facts'>{rows}</dl></header>"
        # The filter stays in reach while the tree scrolls; the facts above do not need to.
        f"<nav class='toolbar'><div class='filters' role='group' aria-label='Show'>"
        f"{''.join(chips)}</div>"
        "<div class='tools'><input type='search' id='search' placeholder="
        "'Search op names and locations' aria-label='Search'>"
        "<button type='button' id='expand-all'>Expand all</button>"
        "<button type='button' id='collapse-all'>Collapse all</button></div></nav>"
    )


def _removable_cell(db: float) -> str:
    return "not estimated" if math.isnan(db) else f"{db:.1f} dB"


def _quantization_table(s: PageSummary, tree: _Tree) -> str:
    """Every checked call of a quantized file against PyTorch's float value, worst first by
    what keeping it in float would win at the output (ferry.quantization_report)."""
    if not s.quantization_table:
        return ""
    titles = (
        "#",
        "call",
        "module",
        "removable, at the output",
        "noise added",
        "SQNR",
        "cosine",
        "max abs diff",
        "at",
    )
    head = "".join(f"<th>{h}</th>" for h in titles)
    rows = "".join(
        f"<tr><td>{k}</td><td>{tree.node_link(row.node)}</td><td>{_e(row.scope)}</td>"
        f"<td>{_removable_cell(row.removable_db)}</td>"
        f"<td>{row.own_sqnr_db:.1f} dB</td><td>{row.sqnr_db:.1f} dB</td>"
        f"<td>{row.cosine:.4f}</td><td>{row.max_abs:.3g}</td><td>{_e(row.invoked)}</td></tr>"
        for k, row in enumerate(s.quantization_table, 1)
    )
    return (
        "<section id='quantization'><h2>Quantization, call by call (worst first)</h2>"
        f"<table class='values'><tr>{head}</tr>{rows}</table></section>"
    )


def _chip(key: str, mark: str, label: str, count: int, css: str = "plain") -> str:
    pressed = "true" if key == "all" else "false"
    mark_html = f"<span class='mark {css}'>{_e(mark)}</span> " if mark else ""
    return (
        f"<button type='button' class='chip' data-filter='{_e(key)}' aria-pressed='{pressed}'"
        f"{' disabled' if count == 0 and mark else ''}>"
        f"{mark_html}{_e(label)} <span class='count'>{count}</span></button>"
    )


def _bytes(n: int | None) -> str:
    size = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


# --- tree -----------------------------------------------------------------------------------


_AT_LOCATION = re.compile(r"^(?P<what>.*\bat )(?P<file>.+):(?P<line>\d+)$")


class _Tree:
    def __init__(self, trace: Trace, info: Mapping[int, NodeInfo], summary: PageSummary):
        self.trace, self.info, self.summary = trace, info, summary
        self.counts: dict[NodeStatus, int] = {}
        for entry in info.values():
            status = getattr(entry, "status", None)
            if isinstance(status, NodeStatus):
                self.counts[status] = self.counts.get(status, 0) + 1
        self._failing: dict[int, int] = {}  # failing calls at or below each node
        self._shows: dict[int, bool] = {}

    def status(self, nid: int) -> Any:
        return getattr(self.info.get(nid), "status", NodeStatus.INSIDE)

    def children(self, nid: int) -> list[int]:
        if nid in self.info and _look(self.status(nid)).whole:
            return []  # converted as a whole: how PyTorch computed it does not matter here
        return [c for c in self.trace.nodes[nid].children if self.shows(c)]

    def shows(self, nid: int) -> bool:
        # Inside a call that did not convert, only the parts that matter are listed.
        if nid not in self._shows:
            children = self.trace.nodes[nid].children
            self._shows[nid] = nid in self.info or any(self.shows(c) for c in children)
        return self._shows[nid]

    def failing(self, nid: int) -> int:
        if nid not in self._failing:
            own = int(nid in self.info and _failing(self.status(nid)))
            self._failing[nid] = own + sum(self.failing(c) for c in self.children(nid))
        return self._failing[nid]

    def name(self, node: TraceNode) -> str:
        if node.kind.value == "module" and node.scope:
            return f"{node.op.rsplit('.', 1)[-1]}[{node.scope}]"
        return node.op

    def node_link(self, nid: int | None) -> str:
        """A link to a call, named with its module path (a model calls an op many times)."""
        if nid is None or not 0 <= nid < len(self.trace.nodes):
            return ""
        node = self.trace.nodes[nid]
        name = self.name(node)
        if node.kind.value != "module" and node.scope:
            name += f" [{node.scope}]"
        return f"<a href='#n{nid}' class='node-link'>{_e(name)}</a>"

    def render(self, nid: int, depth: int) -> str:
        node = self.trace.nodes[nid]
        entry = self.info.get(nid)
        status = self.status(nid)
        children = self.children(nid)
        failing = entry is not None and _failing(status)
        failing_below = self.failing(nid) - int(failing)
        expanded = bool(children) and (depth < OPEN_DEPTH or failing_below > 0)
        message = str(getattr(entry, "message", "") or "")
        converted_by = str(getattr(entry, "converted_by", "") or "")
        places = (node.invoked, node.defined, converted_by)
        search = " ".join(str(x) for x in (node.op, node.scope, message, *places) if x).lower()
        collapsed = " collapsed" if children and not expanded else ""
        inner = "".join(self.render(c, depth + 1) for c in children)
        kids = f"<ul class='children'>{inner}</ul>" if children else ""
        return (
            f"<li class='node{collapsed}' id='n{nid}' "
            f"data-status='{_e(getattr(status, 'name', status))}' "
            f"data-failing='{int(failing)}' data-search='{_e(search)}'>"
            f"{self._row(node, status, message, bool(children), expanded, failing, failing_below)}"
            f"{self._details(node, entry, status, failing)}{kids}</li>"
        )

    def _row(
        self,
        node: TraceNode,
        status: Any,
        message: str,
        has_children: bool,
        expanded: bool,
        failing: bool,
        failing_below: int,
    ) -> str:
        look = _look(status)
        twisty = (
            f"<button type='button' class='twisty' aria-expanded='{str(expanded).lower()}' "
            "aria-label='calls inside'></button>"
            if has_children
            else "<span class='twisty'></span>"
        )
        diff = self.summary.diffs.get(node.id)
        # The message already states the difference where the tree reports one.
        if message:
            note = f"<span class='msg {look.css}'>{_e(message)}</span>"
        elif diff:
            note = f"<span class='msg {look.css}'>diff {diff[0]:.2g}</span>"
        else:
            note = ""
        badge = (
            f"<span class='badge bad'>{failing_below} failing inside</span>"
            if failing_below
            else ""
        )
        return (
            f"<div class='row'>{twisty}"
            f"<span class='mark {look.css}' title='{_e(getattr(status, 'value', status))}'>"
            f"{_e(look.mark)}</span><span class='line'>"
            f"<button type='button' class='title' aria-expanded='{str(failing).lower()}' "
            "title='details'>"
            f"<span class='op {look.css}'>{_e(self.name(node))}</span>"
            f"<span class='sig'>({_e(self._values(node.args))}) → "
            f"({_e(self._values(node.outputs))})</span></button> {note} {badge}</span></div>"
        )

    def _values(self, structure: Any) -> str:
        return ", ".join(
            f"{_dtype(self.trace.values[r.value].dtype)}[{_shape(self.trace.values[r.value].shape)}]"
            for r in iter_refs(structure)
        )

    def _details(self, node: TraceNode, entry: NodeInfo | None, status: Any, open_: bool) -> str:
        facts = [("Status", _e(getattr(status, "value", status)))]
        message = getattr(entry, "message", "")
        if message:
            facts.append(("Message", _e(message)))
        inherits = getattr(entry, "inherits_from", None)
        if isinstance(inherits, int) and 0 <= inherits < len(self.trace.nodes):
            facts.append(("Inherits error from", self.node_link(inherits)))
        diff = self.summary.diffs.get(node.id)
        if diff:
            tol = self.summary.tolerance
            tol_text = f" (tolerance {tol:.3g} × max(1, |PyTorch|))" if tol is not None else ""
            facts.append(
                ("Difference", _e(f"max abs {diff[0]:.3g}, max rel {diff[1]:.3g}{tol_text}"))
            )
        facts.append(("Invoked", _location(node.invoked)))
        facts.append(("Defined", _location(node.defined)))
        converted_by = str(getattr(entry, "converted_by", "") or "")
        if converted_by:
            facts.append(("Converted", _converted(converted_by)))
        rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        return (
            f"<div class='details'{'' if open_ else ' hidden'}><dl>{rows}</dl>"
            f"{self._value_table(node)}</div>"
        )

    def _value_table(self, node: TraceNode) -> str:
        rows = []
        for role, structure in (("in", node.args), ("out", node.outputs)):
            items = structure.items() if isinstance(structure, dict) else [("", structure)]
            for arg, value in items:
                for i, ref in enumerate(iter_refs(value)):
                    label = arg if role == "in" else (f"output {i}" if i else "output")
                    rows.append(self._value_row(role, str(label), ref.value))
        if not rows:
            return ""
        order = "<th>held in order</th>" if self.summary.value_orders else ""
        return (
            "<table class='values'><thead><tr><th></th><th>argument</th><th>value</th>"
            f"<th>dtype</th><th>shape</th>{order}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    def _value_row(self, role: str, label: str, vid: int) -> str:
        value = self.trace.values[vid]
        order = ""
        if self.summary.value_orders:  # else no graph was built: no order to tell
            held = self.summary.value_orders.get(vid)
            if held is None:
                constant = value.kind == ValueKind.CONSTANT
                held = "constant" if constant else "no tensor in the converted graph"
            order = f"<td>{_e(held)}</td>"
        name = f" <span class='dim'>{_e(value.name)}</span>" if value.name else ""
        return (
            f"<tr><td class='dim'>{role}</td><td>{_e(label)}</td><td>v{vid}{name}</td>"
            f"<td>{_e(_dtype(value.dtype))}</td><td>[{_e(_shape(value.shape))}]</td>{order}</tr>"
        )


def _dtype(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _shape(shape: Any) -> str:
    return ",".join(str(d) for d in shape)


def _file_link(file: str, line: int, function: str = "") -> str:
    text = _e(f"{file}:{line}") + (
        f" <span class='dim'>in {_e(function)}</span>" if function else ""
    )
    if not os.path.isabs(file):  # "<string>", "<frozen ...>": nothing to open
        return text
    href = f"{Path(file).as_uri()}#L{line}"
    return f"<span class='loc'>{text}</span><a href='{_e(href)}' class='src'>{_e(href)}</a>"


def _location(loc: SourceLocation | None) -> str:
    if loc is None:
        return "<span class='dim'>unknown</span>"
    return _file_link(loc.file, loc.line, getattr(loc, "function", ""))


def _converted(text: str) -> str:
    """ "user converter at /path/model.py:12" gets a link; a built-in rule reads as is."""
    m = _AT_LOCATION.match(text)
    if not m:
        return _e(text)
    return _e(m["what"]) + _file_link(m["file"], int(m["line"]))
