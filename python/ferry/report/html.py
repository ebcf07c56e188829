"""A self-contained HTML page of the conversion tree (no scripts, no external files)."""

from __future__ import annotations

import html
import os
import tempfile

from ferry.report.tree import NodeInfo, render_tree
from ferry.trace.model import Trace

_STYLE = """
body { background: #1e1e1e; color: #d4d4d4; font-family: monospace; }
.ok { color: #6a9955; } .bad { color: #f44747; } .unused { color: #808080; }
"""


def write_html(path: str, trace: Trace, info: dict[int, NodeInfo], title: str) -> None:
    text = render_tree(trace, info, color=False)
    rows = []
    for line in text.splitlines():
        cls = (
            "bad"
            if ("✗" in line or "≠" in line or "Invoked" in line or "Defined" in line)
            else ("unused" if "·" in line else "ok")
        )
        rows.append(f'<span class="{cls}">{html.escape(line)}</span>')
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h3>{html.escape(title)}</h3><pre>"
        + "\n".join(rows)
        + "</pre></body></html>"
    )
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ferry-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)
