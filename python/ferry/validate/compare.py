"""Compare the converted graph with PyTorch, node by node, in one forward pass.

One Keras model with every checked tensor as an output runs once on the traced inputs; each
converted call is then compared with the value PyTorch recorded for it. The cost is one pass
whatever the depth of the module tree (a per-subtree re-run would cost nodes x depth).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ferry.progress import Progress
from ferry.tfgraph import TfGraph
from ferry.trace.model import Trace

if TYPE_CHECKING:
    from ferry.validate.sizes import SizeCheck


@dataclass
class NodeCheck:
    node: int  # trace node id
    max_abs: float
    max_rel: float
    ok: bool
    scale: float = 1.0  # max(1, |PyTorch|) of its worst output: the tolerance is relative to it
    op: str = ""  # the call, as the tree names it
    scope: str = ""  # module path
    invoked: str = ""  # file:line of the user's code that made the call
    # False: the back end keeps no result of this call (fused or removed); it is a suspect
    # for the difference the next checked call shows, which max_abs/max_rel then are.
    checked: bool = True
    # Signal to noise of its worst float output against PyTorch, in dB (inf: identical), and
    # the worst of the checked calls its inputs come from (inf: model inputs, constants).
    sqnr_db: float = float("inf")
    input_sqnr_db: float = float("inf")
    cosine: float = 1.0  # of its worst float output with PyTorch's (quantized files)
    # The SQNR rounding to its integer tensor's grid alone gives that output (uniform noise
    # of step^2/12 against PyTorch's power); inf for a float tensor. A layer kept float
    # still hands such a tensor on, so this part of its noise stays.
    rounding_db: float = float("inf")

    def __str__(self) -> str:
        where = f" [{self.scope}]" if self.scope else ""
        at = f" invoked at {self.invoked}" if self.invoked else ""
        diff = f"max abs diff {self.max_abs:.3g}"
        if not self.checked:
            diff = f"not kept in the converted model; the next checked call differs by {self.max_abs:.3g}"
        return f"{self.op}{where}{at} ({diff})"


@dataclass
class ValidationReport:
    """What validation found. `first_divergent` is the first call, in execution order, whose
    result is beyond tolerance although its inputs were not: where to look first. Calls after
    it that fail only because they read its result are in `inherited` (call -> that call)."""

    nodes: dict[int, NodeCheck] = field(default_factory=dict)
    outputs: list[tuple[float, float]] = field(
        default_factory=list
    )  # (max_abs, max_rel) per output
    output_scales: list[float] = field(default_factory=list)  # max(1, |PyTorch|) per output
    output_sqnr_db: list[float] = field(default_factory=list)  # per output, when quantized
    output_scopes: list[str] = field(default_factory=list)  # module path of each output's call
    tolerance: float = 1e-4
    first_divergent: NodeCheck | None = None
    divergent: list[NodeCheck] = field(default_factory=list)  # every call failing on its own
    inherited: dict[int, int] = field(default_factory=dict)
    validated: bool = True  # False when validation was skipped
    quantized: bool = False  # the file holds quantized weights: SQNR per call is worth showing
    # Per checked call of a quantized file, with the model at hand: the SQNR at the model's
    # output of the noise that keeping the call's module in float would remove (an estimate,
    # ferry.quantization.removable_noise); calls missing here were not estimated.
    removable_db: dict[int, float] = field(default_factory=dict)
    # Wall time of each stage of the conversion (tracing, converting, building, validating)
    # and, inside "converting", of each stage of the C++ core: where a slow conversion goes.
    stages: list[tuple[str, float]] = field(default_factory=list)
    core_stages: list[tuple[str, float]] = field(default_factory=list)
    # With free sizes and validate_shapes: the converted model at each other size.
    sizes: list[SizeCheck] = field(default_factory=list)

    @property
    def failed_sizes(self) -> list[SizeCheck]:
        return [check for check in self.sizes if not check.ok]

    @property
    def max_output_abs(self) -> float:
        return max((a for a, _ in self.outputs), default=0.0)

    @property
    def failed_outputs(self) -> list[int]:
        return [
            i
            for i, ((max_abs, _), scale) in enumerate(zip(self.outputs, self.output_scales))
            if not max_abs <= self.tolerance * scale
        ]

    @property
    def ok(self) -> bool:
        """Every output and every checked call within tolerance."""
        return (
            not self.failed_outputs
            and not self.failed_sizes
            and all(check.ok for check in self.nodes.values())
        )

    @property
    def worst_node(self) -> NodeCheck | None:
        """The checked call furthest from PyTorch, relative to its tolerance."""
        return max(self.nodes.values(), key=lambda c: c.max_abs / c.scale, default=None)


def differences(expected: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    if expected.shape != actual.shape:
        return float("inf"), float("inf")
    if expected.size == 0:
        return 0.0, 0.0
    if expected.dtype == np.bool_ or actual.dtype == np.bool_:
        mismatch = float(np.any(expected != actual))
        return mismatch, mismatch
    e = expected.astype(np.float64)
    a = actual.astype(np.float64)
    # Equal infinities (attention masks hold -inf) and NaN on both sides match; NaN on one
    # side only is an infinite difference (NaN would vanish in the max() over outputs).
    same = (e == a) | (np.isnan(e) & np.isnan(a))
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_diff = np.where(same, 0.0, np.abs(e - a))
        rel = np.where(same, 0.0, abs_diff / np.maximum(np.abs(e), 1e-12))
    abs_diff = np.where(np.isnan(abs_diff), np.inf, abs_diff)
    rel = np.where(np.isnan(rel), np.inf, rel)
    return float(abs_diff.max()), float(rel.max())


def sqnr_db(expected: np.ndarray, actual: np.ndarray) -> float:
    """10 log10(|expected|^2 / |expected - actual|^2) over the finite entries: how far below
    the signal the error lies (inf when identical, -inf for an error with no signal)."""
    if expected.shape != actual.shape:
        return float("-inf")
    if not np.issubdtype(expected.dtype, np.floating):
        return float("inf") if np.array_equal(expected, actual) else float("-inf")
    e = expected.astype(np.float64)
    a = np.asarray(actual, dtype=np.float64)
    finite = np.isfinite(e) & np.isfinite(a)
    noise = float(((e[finite] - a[finite]) ** 2).sum())
    if noise == 0.0:
        return float("inf")
    signal = float((e[finite] ** 2).sum())
    return 10.0 * float(np.log10(signal / noise)) if signal > 0 else float("-inf")


def rounding_db(expected: np.ndarray, step: float) -> float:
    """The SQNR of rounding `expected` to a grid of `step` (noise step^2/12); inf for 0."""
    if step <= 0.0 or not np.issubdtype(expected.dtype, np.floating):
        return float("inf")
    e = expected.astype(np.float64)
    power = float(np.mean(e[np.isfinite(e)] ** 2)) if e.size else 0.0
    return 10.0 * float(np.log10(power * 12.0 / step**2)) if power > 0 else float("-inf")


def cosine_of(expected: np.ndarray, actual: np.ndarray) -> float:
    """Cosine similarity over the finite entries (1: same direction; 1 for two zero tensors)."""
    if expected.shape != actual.shape or not np.issubdtype(expected.dtype, np.floating):
        return 1.0 if np.array_equal(expected, actual) else 0.0
    e = expected.astype(np.float64).reshape(-1)
    a = np.asarray(actual, dtype=np.float64).reshape(-1)
    finite = np.isfinite(e) & np.isfinite(a)
    e, a = e[finite], a[finite]
    norms = float(np.linalg.norm(e) * np.linalg.norm(a))
    if norms == 0.0:
        return 1.0 if not e.any() and not a.any() else 0.0
    return float(np.dot(e, a) / norms)


def scale_of(expected: np.ndarray) -> float:
    """Tolerances are absolute up to magnitude 1 and relative to the tensor's largest
    magnitude beyond: deep activations of 1e3 carry float32 rounding of ~1e-4 by themselves,
    which is not a conversion error."""
    if expected.size == 0 or expected.dtype == np.bool_:
        return 1.0
    finite = (
        np.abs(expected[np.isfinite(expected)])
        if np.issubdtype(expected.dtype, np.floating)
        else np.abs(expected)
    )
    return max(1.0, float(finite.max())) if finite.size else 1.0


def torch_as_tf(data: torch.Tensor, perm: list[int]) -> np.ndarray:
    """The PyTorch value in the TF tensor's physical order."""
    if data.dtype == torch.bfloat16:
        data = data.float()
    if data.is_complex():  # converted models hold complex values as their real view
        data = torch.view_as_real(data.resolve_conj())
    array = data.detach().cpu().numpy()
    if len(perm) == array.ndim and perm != list(range(array.ndim)):
        array = np.transpose(array, perm)
    return array


def model_inputs(trace: Trace, graph: TfGraph) -> list[np.ndarray]:
    """The traced inputs laid out as the converted model expects them."""
    out = []
    for vid in graph.inputs:
        value = graph.values[vid]
        out.append(torch_as_tf(trace.values[value.origin].data, value.perm))
    return out


def checked_values(graph: TfGraph, available: Collection[int], full: bool) -> list[int]:
    """The graph values to read back: the outputs and, for a full validation, one value per
    traced PyTorch value (those the back end kept a tensor for)."""
    checked: list[int] = list(graph.outputs)
    if full:
        seen: set[int] = set()
        for vid, value in graph.values.items():
            usable = value.origin >= 0 and not value.is_constant and vid in available
            if usable and value.origin not in seen:
                seen.add(value.origin)
                if vid not in checked:
                    checked.append(vid)
    return [vid for vid in checked if vid in available]


def compare(
    computed: dict[int, np.ndarray],
    trace: Trace,
    graph: TfGraph,
    converted: list[int],
    tolerance: float,
    full: bool,
    progress: Progress | None = None,
    quantized: bool = False,
    steps: dict[int, float] | None = None,
) -> ValidationReport:
    """Compares the values a back end computed (graph value id -> array) with PyTorch's.
    `quantized`: the file holds quantized weights; each result's SQNR is measured too.
    `steps`: the quantization step of each value held in an integer tensor."""
    report = ValidationReport(tolerance=tolerance, quantized=quantized)
    no_sqnr = float("inf")  # not measured (and for a float file not worth the extra pass)
    for vid in graph.outputs:
        value = graph.values[vid]
        actual = value.constant if value.constant is not None else computed.get(vid)
        expected = torch_as_tf(trace.values[value.origin].data, value.perm)
        report.output_scales.append(scale_of(expected))
        producer = trace.values[value.origin].producer
        report.output_scopes.append(trace.nodes[producer].scope if producer >= 0 else "")
        if actual is None:
            report.outputs.append((float("inf"), float("inf")))
            if quantized:
                report.output_sqnr_db.append(float("-inf"))
        else:
            report.outputs.append(differences(expected, np.asarray(actual)))
            if quantized:
                report.output_sqnr_db.append(sqnr_db(expected, np.asarray(actual)))
    if not full:
        return report
    by_trace_value: dict[int, int] = {}
    for vid in computed:
        origin = graph.values[vid].origin
        if origin >= 0:
            by_trace_value.setdefault(origin, vid)
    checks = progress.bar(converted, len(converted), "checking") if progress else converted
    for node_id in checks:
        worst_abs = worst_rel = 0.0
        worst_scale = 1.0
        worst_sqnr = no_sqnr
        worst_cosine = 1.0
        worst_rounding = no_sqnr
        ok = True
        seen = False
        for ref in trace.nodes[node_id].output_refs():
            vid = by_trace_value.get(ref.value)
            if vid is None:
                continue
            seen = True
            expected = torch_as_tf(trace.values[ref.value].data, graph.values[vid].perm)
            a, r = differences(expected, computed[vid])
            if quantized:
                sqnr = sqnr_db(expected, computed[vid])
                if sqnr <= worst_sqnr:
                    worst_sqnr = sqnr
                    worst_rounding = rounding_db(expected, (steps or {}).get(vid, 0.0))
                worst_cosine = min(worst_cosine, cosine_of(expected, computed[vid]))
            scale = scale_of(expected)
            if a / scale >= worst_abs / worst_scale:
                worst_abs, worst_scale = a, scale
            worst_rel = max(worst_rel, r)
            ok &= a <= tolerance * scale
        if seen:
            report.nodes[node_id] = _node_check(
                trace, node_id, worst_abs, worst_rel, ok, worst_scale
            )
            report.nodes[node_id].sqnr_db = worst_sqnr
            report.nodes[node_id].cosine = worst_cosine
            report.nodes[node_id].rounding_db = worst_rounding
    _trace_divergence(report, trace, converted)
    if quantized:
        _input_sqnr(report, trace, set(converted))
    return report


def _input_sqnr(report: ValidationReport, trace: Trace, converted: set[int]) -> None:
    """Each checked call's input SQNR: that of the checked calls making its inputs. A value
    is made by the converted call around its innermost producer; a converted call the file
    keeps no result of (fused into the next) passes on its own inputs' SQNR."""
    memo: dict[int, float] = {}

    def making(vid: int) -> int:
        producer = trace.values[vid].producer
        while producer >= 0 and producer not in converted:
            producer = trace.nodes[producer].parent
        return producer

    def inputs_of(nid: int) -> float:
        if nid in memo:
            return memo[nid]
        memo[nid] = float("inf")  # a cycle cannot occur; this only guards the recursion
        worst = float("inf")
        for ref in trace.nodes[nid].input_refs():
            producer = making(ref.value)
            if producer < 0 or producer == nid:
                continue
            check = report.nodes.get(producer)
            worst = min(worst, check.sqnr_db if check else inputs_of(producer))
        memo[nid] = worst
        return worst

    for nid, check in report.nodes.items():
        check.input_sqnr_db = inputs_of(nid)


def _trace_divergence(report: ValidationReport, trace: Trace, converted: list[int]) -> None:
    """Follows errors along the data flow, in execution order: a failing call none of whose
    inputs carries an earlier error diverges on its own; one that reads an erroneous value
    inherits the error of the call it came from. A call within tolerance stops the spread.

    A call whose result the back end does not keep (fused into the next op, or an identity
    that was removed) cannot be checked. When a failing call read such a result, the
    earliest unchecked call upstream is named as diverging instead, marked unchecked: the
    failing call shows the error, but the unchecked one may well have made it."""
    source: dict[int, int] = {}  # trace value -> the diverging call its error comes from
    unchecked: dict[int, int] = {}  # trace value -> earliest unchecked call it depends on
    for nid in sorted(converted):
        node = trace.nodes[nid]
        inputs = [r.value for r in node.input_refs()]
        roots = [source[v] for v in inputs if v in source]
        check = report.nodes.get(nid)
        outputs = [r.value for r in node.output_refs()] + list(node.mutated)
        if check is not None and check.ok:
            continue
        if check is None and not roots:
            suspects = [unchecked[v] for v in inputs if v in unchecked]
            for vid in outputs:
                unchecked[vid] = min(suspects, default=nid)
            continue
        if not roots and check is not None:
            suspects = [unchecked[v] for v in inputs if v in unchecked]
            if suspects:
                first = min(suspects)
                if first not in report.nodes:
                    report.nodes[first] = _unchecked(trace, first, check)
                    report.divergent.append(report.nodes[first])
                roots = [first]
        if roots:
            root = min(roots)
            if check is not None:
                report.inherited[nid] = root
        else:
            root = nid
            report.divergent.append(report.nodes[nid])
        for vid in outputs:
            source[vid] = root
    report.divergent.sort(key=lambda c: c.node)
    report.first_divergent = report.divergent[0] if report.divergent else None


def _unchecked(trace: Trace, nid: int, downstream: NodeCheck) -> NodeCheck:
    """A suspect with no result of its own to compare: the difference shown is the first
    checked call's after it."""
    return _node_check(
        trace, nid, downstream.max_abs, downstream.max_rel, False, downstream.scale, checked=False
    )


def _node_check(
    trace: Trace,
    nid: int,
    max_abs: float,
    max_rel: float,
    ok: bool,
    scale: float,
    checked: bool = True,
) -> NodeCheck:
    """A check result named as the tree names the call."""
    node = trace.nodes[nid]
    invoked = str(node.invoked) if node.invoked else ""
    return NodeCheck(nid, max_abs, max_rel, ok, scale, node.op, node.scope, invoked, checked)


def validate_keras(
    build_model,
    tensors: dict[int, object],
    trace: Trace,
    graph: TfGraph,
    converted: list[int],
    tolerance: float,
    full: bool,
    progress: Progress | None = None,
) -> ValidationReport:
    """Runs the converted graph once and compares it with PyTorch's recorded values.

    `build_model(outputs)` makes a Keras model over the same layers with the given outputs.
    """
    checked = checked_values(graph, tensors, full)
    probe = build_model([tensors[vid] for vid in checked])
    results = probe(model_inputs(trace, graph), training=False)
    if not isinstance(results, (list, tuple)):
        results = [results]
    computed = {vid: np.asarray(r) for vid, r in zip(checked, results)}
    return compare(computed, trace, graph, converted, tolerance, full, progress)
