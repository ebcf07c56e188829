"""pytorch_to_keras, and the steps every way out of Ferry shares: checking the arguments before
any work, tracing, the core, the report, and the verdict on validation."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ferry.converters import ChannelOrder, UserConverter, disabled_rule_names
from ferry.core_bridge import CoreResult, TfliteRequest, run_core
from ferry.errors import ConversionError, UnsupportedOpsError, ValidationError, ValidationWarning
from ferry.progress import Progress, Verbosity, check_verbose
from ferry.report import render_tree, statuses, write_html
from ferry.summary import LayoutSummary
from ferry.trace import trace_module
from ferry.trace.model import Trace, TraceNode
from ferry.validate.compare import ValidationReport

OrderSpec = ChannelOrder | Sequence[ChannelOrder | None] | dict[int, ChannelOrder] | None
MISMATCH_POLICIES = ("raise", "warn")


def _orders(spec: OrderSpec, count: int, default: str, what: str) -> list[str]:
    def one(order: ChannelOrder | None) -> str:
        if order is None:
            return default
        if not isinstance(order, ChannelOrder):
            raise TypeError(
                f"ferry: {what} must be a ferry.ChannelOrder (or a list of them), got {order!r}"
            )
        return order.value

    if spec is None or isinstance(spec, (ChannelOrder, str)):
        return [one(spec)] * count
    if isinstance(spec, dict):
        return [one(spec.get(i)) for i in range(count)]
    items = list(spec)
    if len(items) != count:
        raise ValueError(f"ferry: {what} lists {len(items)} orders for {count} tensors")
    return [one(o) for o in items]


def _check_input_shapes(input_shapes: Any, trace: Trace) -> None:
    if not input_shapes:
        return
    for key, shape in input_shapes.items():
        if any(d is None for d in shape):
            raise NotImplementedError(
                "ferry: dynamic dimensions (None in input_shapes) are not supported yet; "
                "convert with the static shape of the example input"
            )
        actual = tuple(key.shape) if isinstance(key, torch.Tensor) else None
        if actual is not None and tuple(shape) != actual:
            raise ValueError(
                f"ferry: input_shapes gives {tuple(shape)} for an input of shape {actual}"
            )


# --- checks before any work -----------------------------------------------------------------

# Modules whose forward computes something else in training mode (and may update state).
_TRAINING_BEHAVIOUR: tuple[tuple[type, str], ...] = (
    (
        torch.nn.modules.batchnorm._BatchNorm,
        "normalises with batch statistics and updates its running statistics",
    ),
    (torch.nn.modules.dropout._DropoutNd, "drops values at random"),
    (torch.nn.MultiheadAttention, "applies attention dropout"),
    (torch.nn.RNNBase, "applies dropout between layers"),
)


def check_eval_mode(model: Any) -> None:
    """Refuses a model whose modules would compute differently in training mode, naming every
    one at once, before anything runs (running it would update BatchNorm's statistics)."""
    if not isinstance(model, torch.nn.Module):
        model = getattr(model, "__self__", None)
        if not isinstance(model, torch.nn.Module):
            return
    found = []
    for path, module in model.named_modules():
        if not module.training:
            continue
        for cls, effect in _TRAINING_BEHAVIOUR:
            if isinstance(module, cls) and _acts_in_training(module):
                found.append(f"{path or '(the model)'} ({type(module).__name__}: {effect})")
                break
    if found:
        raise ConversionError(
            "ferry: the model is in training mode, where these modules compute something "
            "else than at inference: " + "; ".join(found) + ". Call model.eval() before "
            "converting; nothing was run."
        )


def _acts_in_training(module: torch.nn.Module) -> bool:
    if isinstance(module, torch.nn.modules.dropout._DropoutNd):
        return module.p > 0
    if isinstance(module, (torch.nn.MultiheadAttention, torch.nn.RNNBase)):
        layers = getattr(module, "num_layers", 2)
        return module.dropout > 0 and layers > 1
    return True


def check_options(
    tolerance: Any, on_mismatch: Any, verbose: Any, save_trace_html: bool | str
) -> str | None:
    """Checks options that need no model; returns the HTML report's path, if one is wanted."""
    check_tolerance(tolerance)
    if on_mismatch not in MISMATCH_POLICIES:
        raise ValueError(
            f"ferry: on_mismatch must be one of {', '.join(map(repr, MISMATCH_POLICIES))}, "
            f"got {on_mismatch!r}"
        )
    check_verbose(verbose)
    if not save_trace_html:
        return None
    path = save_trace_html if isinstance(save_trace_html, (str, os.PathLike)) else "trace.html"
    from ferry.files import check_output_path

    return check_output_path(os.fspath(path), (".html", ".htm"))


def check_tolerance(tolerance: Any) -> None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ValueError(
            f"ferry: validation_tolerance must be a non-negative number, got {tolerance!r}"
        )


def refuse_trace_shape(trace_shape: bool) -> None:
    if trace_shape:
        raise NotImplementedError("ferry: trace_shape=True (dynamic shapes) is not supported yet")


# --- trace and core -------------------------------------------------------------------------


@dataclass
class Conversion:
    """One conversion in progress: what every back end reads."""

    trace: Trace
    result: CoreResult
    name: str
    progress: Progress
    backend: str  # "keras" or "tflite"


def trace_model(
    model: Any,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    input_shapes: Any,
    input_names: list[str] | None,
    output_names: list[str] | None,
    progress: Progress,
) -> Trace:
    check_eval_mode(model)
    with progress.stage("tracing", model_name(model)):
        trace = trace_module(
            model, args, kwargs, input_names=input_names, output_names=output_names
        )
    _check_input_shapes(input_shapes, trace)
    return trace


def convert_trace(
    trace: Trace,
    inputs_channel_order: OrderSpec,
    outputs_channel_order: OrderSpec,
    dump_ir: bool | None,
    progress: Progress,
    tflite: TfliteRequest | None = None,
    identity_users: dict[int, str] | None = None,
) -> CoreResult:
    in_orders = _orders(inputs_channel_order, len(trace.inputs), "pytorch", "inputs_channel_order")
    out_orders = _orders(
        outputs_channel_order, len(trace.output_refs()), "as_is", "outputs_channel_order"
    )
    keep = dump_ir if dump_ir is not None else bool(os.environ.get("FERRY_DUMP_IR"))
    stage = "converting and writing .tflite" if tflite is not None else "converting"
    with progress.stage(stage, f"({len(trace.nodes)} traced calls)"):
        result = run_core(
            trace,
            disabled=disabled_rule_names(),
            input_orders=in_orders,
            output_orders=out_orders,
            keep_dumps=keep,
            tflite=tflite,
            identity_users=identity_users,
        )
    if keep:
        for stage_name, text in result.dumps:
            print(f"--- IR after {stage_name} ---\n{text}", file=sys.stderr)
    return result


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


# --- user converters on the Keras path ------------------------------------------------------


def _user_callables(trace: Trace, result: CoreResult) -> dict[int, Callable[..., Any]]:
    """Calls each user converter with the PyTorch arguments; maps its handle to what it returns.

    Reusable converters of one module instance are called once and their layer shared.
    """
    out: dict[int, Callable[..., Any]] = {}
    shared: dict[tuple[int, int], Callable[..., Any]] = {}
    for nid, user in result.user_converters.items():
        node = trace.nodes[nid]
        key = (id(user), id(node.target))
        if user.reusable and node.kind.value == "module" and key in shared:
            out[nid] = shared[key]
            continue
        made = _call_converter(user, node)
        shared[key] = made
        out[nid] = made
    return out


_converting: list[tuple[int, int]] = []  # (converter, target) being called, outermost first


def _call_converter(user: UserConverter, node: TraceNode) -> Callable[..., Any]:
    args = (node.target, *node.raw_args) if node.kind.value == "module" else node.raw_args
    key = (id(user), id(node.target))
    if key in _converting:
        raise ConversionError(
            f"ferry: the converter at {user.location()} converts the very call it converts "
            f"({node.op}) again, which would never end. Inside a converter, convert the "
            "module's parts, or its forward without the module call: "
            "ferry.pytorch_to_keras(self.forward, [x])."
        )
    _converting.append(key)
    try:
        made = user.func(*args, **node.raw_kwargs)
    finally:
        _converting.pop()
    if not callable(made):
        raise ConversionError(
            f"ferry: the converter at {user.location()} returned {type(made).__name__}, "
            "expected a callable or a Keras layer"
        )
    return _SignatureCall(made, node)


class _SignatureCall:
    """Calls the converter's TF callable with the PyTorch call's arguments, TF tensors in
    place of torch tensors (in the order the tensors appear)."""

    def __init__(self, fn: Callable[..., Any], node: TraceNode):
        self.fn = fn
        self.args = node.raw_args
        self.kwargs = node.raw_kwargs
        self.layer = fn if _is_keras_layer(fn) else None

    def __call__(self, tensors: list[Any]) -> Any:
        it = iter(tensors)

        def swap(obj: Any) -> Any:
            if isinstance(obj, torch.Tensor):
                return next(it)
            if isinstance(obj, (list, tuple)) and any(isinstance(o, torch.Tensor) for o in obj):
                return type(obj)(swap(o) for o in obj)
            return obj

        args = [swap(a) for a in self.args]
        kwargs = {k: swap(v) for k, v in self.kwargs.items()}
        return self.fn(*args, **kwargs)


def _is_keras_layer(obj: Any) -> bool:
    try:
        import keras

        return isinstance(obj, keras.layers.Layer)
    except ImportError:
        return False


# --- the report and the verdict -------------------------------------------------------------


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
    if not failed:
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
    return text


def model_name(model: Any) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__name__", "model")


# --- Keras ----------------------------------------------------------------------------------


def pytorch_to_keras(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    input_shapes: dict[Any, Sequence[int | None]] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    trace_shape: bool = False,
    full_validation: bool = True,
    validation_tolerance: float = 1e-4,
    return_outputs_pt: bool = False,
    save_trace_html: bool | str = False,
    dump_ir: bool | None = None,
    verbose: Verbosity = True,
    on_mismatch: str = "raise",
    return_report: bool = False,
) -> Any:
    """Converts a PyTorch module (or callable) into a Keras 3 model.

    Every converted call is compared with PyTorch on the traced inputs; the tree of calls is
    printed with what became of each (verbose=True; "failures" prints only what failed,
    False nothing). A call is inaccurate when its max abs difference exceeds
    `validation_tolerance` times max(1, the largest magnitude PyTorch recorded for it).

    Raises UnsupportedOpsError (every op with no converter, once, with where it was invoked)
    instead of returning a partial model, and ValidationError when an output is beyond
    tolerance (the error names the first divergent call and carries the report) unless
    on_mismatch="warn". Returns the model, then PyTorch's outputs with `return_outputs_pt`,
    then the ValidationReport with `return_report`.
    """
    refuse_trace_shape(trace_shape)
    html = check_options(validation_tolerance, on_mismatch, verbose, save_trace_html)
    name = model_name(model)
    progress = Progress(verbose, name)
    progress.say(f"converting {name} to Keras")
    trace = trace_model(model, args, kwargs, input_shapes, input_names, output_names, progress)
    result = convert_trace(trace, inputs_channel_order, outputs_channel_order, dump_ir, progress)
    conv = Conversion(trace, result, name, progress, "keras")
    stop_on_failure(conv, verbose, html)

    with progress.stage("building the Keras model"):
        from ferry.keras import build_keras_model

        assert result.graph is not None
        users = _user_callables(trace, result)
        build = build_keras_model(result.graph, user_callables=users, model_name=_keras_name(name))
    import keras

    from ferry.validate import validate_keras

    def probe(outputs: list[Any]) -> Any:
        return keras.Model(inputs=build.model.inputs, outputs=outputs)

    with progress.stage("validating", "against PyTorch"):
        report = validate_keras(
            probe,
            build.tensors,
            trace,
            result.graph,
            result.converted,
            validation_tolerance,
            full_validation,
            progress,
        )
    show_report(conv, report, verbose, html)
    if verbose is True:
        print(summary(result, report))
    build.model.ferry_report = report  # type: ignore[attr-defined]
    build.model.ferry_layout = LayoutSummary.from_core(result)  # type: ignore[attr-defined]
    try:
        judge(conv, report, on_mismatch, "Keras model")
    except ValidationError as e:
        e.model = build.model
        raise
    out: tuple[Any, ...] = (build.model,)
    if return_outputs_pt:
        out += (_outputs_pt(trace),)
    if return_report:
        out += (report,)
    return out[0] if len(out) == 1 else out


def layout_summary(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
) -> LayoutSummary:
    """Traces and converts in the core only (no TensorFlow needed) and reports the channel
    order the solver chose: transposes and bytes moved, against node-by-node decisions."""
    progress = Progress(False, model_name(model))
    trace = trace_model(model, args, kwargs, None, None, None, progress)
    result = convert_trace(trace, inputs_channel_order, outputs_channel_order, None, progress)
    if result.unsupported:
        raise unsupported_error(trace, result)
    if result.errors:
        raise conversion_error(trace, result)
    return LayoutSummary.from_core(result)


def _keras_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned or "ferry_model"


def _outputs_pt(trace: Trace) -> Any:
    from ferry.trace.model import TensorRef

    def rebuild(obj: Any) -> Any:
        if isinstance(obj, TensorRef):
            return trace.values[obj.value].data
        if isinstance(obj, (list, tuple)):
            return type(obj)(rebuild(o) for o in obj)
        if isinstance(obj, dict):
            return {k: rebuild(v) for k, v in obj.items()}
        return obj

    return rebuild(trace.outputs)
