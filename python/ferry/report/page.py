"""What the header of the HTML report says about a conversion, gathered in one place.

Every field but the model's name is optional: a conversion that stopped before validation
has no report, one that stopped before layout has no graph, and the page shows what is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.report.tree import NodeInfo, NodeStatus
from ferry.summary import LayoutSummary
from ferry.tfgraph import TfGraph
from ferry.trace.model import Trace
from ferry.validate.compare import ValidationReport

PYTORCH_ORDER = "PyTorch"
CHANNELS_LAST = "TensorFlow (channels last)"


@dataclass
class PageSummary:
    model: str
    backend: str | None = None  # "keras" or "tflite"
    counts: dict[NodeStatus, int] = field(default_factory=dict)  # calls per status
    worst_diff: float | None = None  # largest max abs difference of a checked call
    worst_node: int | None = None  # the trace node it belongs to
    first_divergent: int | None = None  # earliest call (in call order) beyond tolerance
    transposes: int | None = None
    bytes_moved: int | None = None  # per inference
    stage_seconds: list[tuple[str, float]] = field(default_factory=list)
    value_orders: dict[int, str] = field(default_factory=dict)  # trace value -> physical order
    diffs: dict[int, tuple[float, float]] = field(default_factory=dict)  # node -> (abs, rel)
    tolerance: float | None = None
    path: str | None = None  # where the page was written
    # validate_shapes: each other size the converted model ran at, and whether it matched.
    sizes: list[tuple[str, bool]] = field(default_factory=list)
    # Quantized weights: the output SQNR per output, and the calls adding the most noise
    # (ferry.quantization_report), worst first: (trace node, what it cost).
    output_sqnr_db: list[float] = field(default_factory=list)
    quantization: list[tuple[int, str]] = field(default_factory=list)
    # Every checked call of a quantized file, worst first (ferry.quantization_report).
    quantization_table: list[Any] = field(default_factory=list)


QUANTIZATION_ROWS = 10  # the calls adding the most noise that the page lists


def order_name(perm: Sequence[int]) -> str:
    """How a value with this permutation of its PyTorch axes is held."""
    perm = list(perm)
    if perm == list(range(len(perm))):
        return PYTORCH_ORDER
    if len(perm) >= 3 and perm == [0, *range(2, len(perm)), 1]:
        return CHANNELS_LAST
    return f"TensorFlow (axes {', '.join(str(p) for p in perm)})"


def value_orders(graph: TfGraph) -> dict[int, str]:
    """The physical order of each traced value the converted graph holds. A value that is
    also transposed (layout transposes keep the origin of what they reorder) lists both."""
    seen: dict[int, list[str]] = {}
    for value in graph.values.values():
        if value.origin < 0:
            continue
        names = seen.setdefault(value.origin, [])
        name = order_name(value.perm)
        if name not in names:
            names.append(name)
    return {origin: " and ".join(names) for origin, names in seen.items()}


def summarize(
    model: str,
    trace: Trace,
    info: Mapping[int, NodeInfo],
    report: ValidationReport | None = None,
    layout: LayoutSummary | None = None,
    graph: TfGraph | None = None,
    stage_seconds: Sequence[tuple[str, float]] = (),
    backend: str | None = None,
) -> PageSummary:
    """Everything the page header shows, from whatever stages of the conversion ran. The
    layout's numbers count only with the graph they describe."""
    counts: dict[NodeStatus, int] = {}
    for entry in info.values():
        status = getattr(entry, "status", None)
        if isinstance(status, NodeStatus):
            counts[status] = counts.get(status, 0) + 1
    page = PageSummary(
        model=model,
        backend=backend,
        counts=counts,
        stage_seconds=[(str(name), float(seconds)) for name, seconds in stage_seconds],
    )
    if graph is not None:  # without a graph (the core stopped early) nothing was laid out
        page.value_orders = value_orders(graph)
        if layout is not None:
            page.transposes = layout.transposes
            page.bytes_moved = layout.bytes_moved
    if report is not None and getattr(report, "validated", True):
        page.tolerance = report.tolerance
        page.sizes = [
            (check.describe(trace.input_names), check.ok) for check in getattr(report, "sizes", [])
        ]
        page.diffs = {nid: (c.max_abs, c.max_rel) for nid, c in report.nodes.items()}
        if getattr(report, "quantized", False):
            from ferry.quantization import quantization_report

            page.output_sqnr_db = list(report.output_sqnr_db)
            rows = quantization_report(report)
            page.quantization_table = rows
            page.quantization = [
                (
                    row.node,
                    f"{row.removable}, "
                    f"{row.own_sqnr_db:.1f} dB added ({row.sqnr_db:.1f} dB in all)",
                )
                for row in rows[:QUANTIZATION_ROWS]
            ]
        # The report's own verdicts when it has them (worst relative to each call's
        # tolerance, divergence followed along the data flow); else worked out here.
        worst = getattr(report, "worst_node", None)
        if worst is None and report.nodes:
            worst = max(report.nodes.values(), key=lambda c: (c.max_abs, -c.node))
        if worst is not None:
            page.worst_diff, page.worst_node = worst.max_abs, worst.node
        elif report.outputs:
            page.worst_diff = report.max_output_abs
            page.worst_node = _output_producer(trace, info, report)
        if hasattr(report, "first_divergent"):
            first = report.first_divergent
            page.first_divergent = first.node if first is not None else None
        else:
            # Calls run in call order, so the first one beyond tolerance read only accurate
            # values: that is where the difference starts.
            failing = [c.node for c in report.nodes.values() if not c.ok]
            page.first_divergent = min(failing) if failing else None
    return page


def _output_producer(
    trace: Trace, info: Mapping[int, NodeInfo], report: ValidationReport
) -> int | None:
    """The reported call that made the output with the largest difference (outputs only
    are checked without a full validation)."""
    refs = trace.output_refs()
    worst = max(range(len(report.outputs)), key=lambda i: report.outputs[i][0])
    if worst >= len(refs):
        return None
    nid = trace.values[refs[worst].value].producer
    while nid >= 0 and nid not in info:
        nid = trace.nodes[nid].parent
    return nid if nid >= 0 else None
