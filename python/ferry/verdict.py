"""What became of a conversion: the tree, the HTML report, and the verdict on validation,
the same for every back end."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from ferry.core_bridge import CoreResult
from ferry.errors import ConversionError, UnsupportedOpsError, ValidationError, ValidationWarning
from ferry.pipeline import Conversion
from ferry.progress import Verbosity
from ferry.report import render_tree, statuses, write_html
from ferry.summary import LayoutSummary
from ferry.trace.model import Trace, TraceNode
from ferry.validate.compare import ValidationReport


def _converted_by(result: CoreResult, rules: dict[str, str], trace: Trace) -> dict[int, str]:
    out = {}
    for nid in result.converted:
        user = result.user_converters.get(nid)
        op = trace.nodes[nid].op
        out[nid] = (
            f"user converter at {user.location()}"
            if user
            else f"built-in rule {op} -> {rules.get(op, '?')}"
        )
    return out


def unsupported_error(trace: Trace, result: CoreResult) -> UnsupportedOpsError:
    ops: dict[str, list[str]] = {}
    for nid, _ in result.unsupported:
        node = trace.nodes[nid]
        label = _user_facing_name(trace, node)
        ops.setdefault(label, []).append(
            str(node.invoked) if node.invoked else "<unknown location>"
        )
    lines = [f"ferry: no converter for {len(ops)} op(s); nothing was written:"]
    for label, places in ops.items():
        where = places[0] + (f" (and {len(places) - 1} more)" if len(places) > 1 else "")
        lines.append(f"  {label}  invoked at {where}")
    lines.append(
        "Write one with @ferry.converter(<op>) (see the tree above for the enclosing calls)."
    )
    return UnsupportedOpsError("\n".join(lines), ops)


def conversion_error(trace: Trace, result: CoreResult) -> ConversionError:
    """Every call a rule refused, with the rule's reason and where the call was made."""
    lines = ["ferry: conversion failed; nothing was written:"]
    for nid, message in result.errors:
        where = trace.nodes[nid].invoked if nid >= 0 else None
        lines.append(f"  {message}" + (f"  (invoked at {where})" if where else ""))
    return ConversionError("\n".join(lines))


def _user_facing_name(trace: Trace, node: TraceNode) -> str:
    """The outermost call that failed only because of this op, e.g. F.hardsigmoid for
    aten.hardsigmoid: that is where a user converter would go."""
    chain = [node.op]
    parent = node.parent
    while (
        parent >= 0
        and trace.nodes[parent].kind.value == "function"
        and len(trace.nodes[parent].children) == 1
    ):
        chain.append(trace.nodes[parent].op)
        parent = trace.nodes[parent].parent
    chain.reverse()
    return " -> ".join(chain)


def stop_on_failure(conv: Conversion, verbose: Verbosity, html: str | None) -> None:
    """Shows the tree and raises when a call has no converter or a rule refused one: every
    back end stops there, before building anything."""
    result = conv.result
    if not result.unsupported and not result.errors:
        return
    show_report(conv, None, verbose, html)
    if result.unsupported:
        raise unsupported_error(conv.trace, result)
    raise conversion_error(conv.trace, result)


def show_report(
    conv: Conversion, report: ValidationReport | None, verbose: Verbosity, html: str | None
) -> None:
    """Prints the conversion tree (all of it, or with verbose="failures" the failing part)
    and writes the HTML report. A report that cannot be written is a warning: it never costs
    the converted model."""
    if verbose is False and not html:
        return
    from ferry.core_bridge import rules as core_rules

    trace, result = conv.trace, conv.result
    converted_by = _converted_by(result, dict(core_rules()), trace)
    info = statuses(
        trace,
        result.converted,
        result.unused,
        result.unsupported,
        result.errors,
        report,
        converted_by,
        result.folded,
    )
    if verbose is True or (verbose == "failures" and _has_failures(result, report)):
        print(render_tree(trace, info, failures_only=verbose == "failures"), file=sys.stdout)
    if html:
        try:
            page = _page(conv, info, report)
            write_html(html, trace, info, page)
        except Exception as e:  # the report is a by-product: never worth the model
            warnings.warn(
                f"ferry: the HTML report could not be written to {html}: {e!r}", stacklevel=3
            )
        else:
            conv.progress.say(f"report written to {os.path.abspath(html)}")


def _page(conv: Conversion, info: dict[int, Any], report: ValidationReport | None) -> Any:
    from ferry.report.page import summarize

    return summarize(
        conv.name,
        conv.trace,
        info,
        report,
        LayoutSummary.from_core(conv.result),
        conv.result.graph,
        [*conv.progress.seconds, *conv.result.seconds],
        backend=conv.backend,
    )


def _has_failures(result: CoreResult, report: ValidationReport | None) -> bool:
    return bool(result.unsupported or result.errors or (report is not None and not report.ok))


def judge(conv: Conversion, report: ValidationReport, on_mismatch: str, what: str) -> None:
    """Never silent: outputs beyond tolerance raise ValidationError (or, with
    on_mismatch="warn", warn); calls beyond tolerance whose error does not reach an output
    warn. `what` names the back end's result in the message."""
    failed = report.failed_outputs
    if not failed and report.ok:
        return
    names = conv.trace.output_names
    lines = []
    for check in report.failed_sizes:
        lines.append(
            "at another size the outputs differ from PyTorch beyond tolerance "
            + check.describe(conv.trace.input_names)
        )
    for i in failed:
        max_abs = report.outputs[i][0]
        name = names[i] if i < len(names) else f"output {i}"
        lines.append(
            f"output '{name}' differs from PyTorch by {max_abs:.3g} "
            f"(tolerance {report.tolerance:g} x {report.output_scales[i]:.3g})"
        )
    first = report.first_divergent
    if first is not None:
        converted_by = conv.result.user_converters.get(first.node)
        by = (
            f", converted by the user converter at {converted_by.location()}"
            if converted_by
            else ""
        )
        lines.append(f"first divergent call: {first}{by}")
    elif not report.nodes:
        lines.append("no call was checked one by one (full_validation=True shows which diverges)")
    if not failed and not report.failed_sizes:
        warnings.warn(
            ValidationWarning(
                "ferry: some calls differ from PyTorch beyond tolerance, although the outputs "
                "are within it; " + "; ".join(lines)
            ),
            stacklevel=3,
        )
        return
    text = f"ferry: the converted {what} is not faithful to PyTorch: " + "; ".join(lines)
    if on_mismatch == "warn":
        warnings.warn(ValidationWarning(text), stacklevel=3)
        return
    raise ValidationError(
        text + ". Nothing was written. Pass on_mismatch='warn' to keep the result anyway.",
        report=report,
    )


def summary(result: CoreResult, report: ValidationReport | None = None) -> str:
    text = f"Ferry: {len(result.converted)} calls converted; {LayoutSummary.from_core(result)}"
    if report is not None and report.outputs:
        diffs = ", ".join(f"{a:.3g}" for a, _ in report.outputs)
        text += f"; max abs diff of outputs: {diffs}"
        if report.first_divergent is not None:
            text += f"; first divergent call: {report.first_divergent}"
    if report is not None and report.sizes:
        names = result.graph.input_names if result.graph is not None else []
        text += "; " + "; ".join(check.describe(names) for check in report.sizes)
    return text
