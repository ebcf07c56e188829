"""The conversion tree in the terminal, and as a self-contained HTML page."""

from ferry.report.html import write_html
from ferry.report.page import PageSummary, summarize
from ferry.report.tree import NodeStatus, render_tree, statuses

__all__ = ["NodeStatus", "PageSummary", "render_tree", "statuses", "summarize", "write_html"]
