"""The conversion tree in the terminal, and as a self-contained HTML page."""

from ferry.report.html import write_html
from ferry.report.tree import NodeStatus, render_tree, statuses

__all__ = ["NodeStatus", "render_tree", "statuses", "write_html"]
