"""pytorch_to_keras: trace, convert in the core, build Keras, validate, report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ferry.converters import ChannelOrder, UserConverter, disabled_rule_names
from ferry.core_bridge import CoreResult, TfliteRequest, run_core
from ferry.errors import ConversionError, UnsupportedOpsError
from ferry.report import render_tree, statuses, write_html
from ferry.summary import LayoutSummary
from ferry.trace import trace_module
from ferry.trace.model import Trace, TraceNode

OrderSpec = ChannelOrder | Sequence[ChannelOrder | None] | dict[int, ChannelOrder] | None


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


def _call_converter(user: UserConverter, node: TraceNode) -> Callable[..., Any]:
    args = (node.target, *node.raw_args) if node.kind.value == "module" else node.raw_args
    made = user.func(*args, **node.raw_kwargs)
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


def _dump(result: CoreResult, dump_ir: bool | None) -> None:
    if dump_ir is None:
        dump_ir = bool(os.environ.get("FERRY_DUMP_IR"))
    if dump_ir:
        for stage, text in result.dumps:
            print(f"--- IR after {stage} ---\n{text}", file=sys.stderr)


def convert_trace(
    model: Any,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    input_shapes: Any,
    inputs_channel_order: OrderSpec,
    outputs_channel_order: OrderSpec,
    input_names: list[str] | None,
    output_names: list[str] | None,
    dump_ir: bool | None,
    tflite: TfliteRequest | None = None,
) -> tuple[Trace, CoreResult]:
    trace = trace_module(model, args, kwargs, input_names=input_names, output_names=output_names)
    _check_input_shapes(input_shapes, trace)
    in_orders = _orders(inputs_channel_order, len(trace.inputs), "pytorch", "inputs_channel_order")
    out_orders = _orders(
        outputs_channel_order, len(trace.output_refs()), "as_is", "outputs_channel_order"
    )
    keep = dump_ir if dump_ir is not None else bool(os.environ.get("FERRY_DUMP_IR"))
    result = run_core(
        trace,
        disabled=disabled_rule_names(),
        input_orders=in_orders,
        output_orders=out_orders,
        keep_dumps=keep,
        tflite=tflite,
    )
    _dump(result, keep)
    return trace, result


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
    verbose: bool = True,
) -> Any:
    """Converts a PyTorch module (or callable) into a Keras 3 model.

    Every converted call is compared with PyTorch; the tree of calls is printed with what
    became of each. A call is inaccurate when its max abs difference exceeds
    `validation_tolerance` times max(1, the largest magnitude PyTorch recorded for it). Raises UnsupportedOpsError (listing every op with no converter once, with
    where it was invoked) instead of returning a partial model.
    """
    refuse_trace_shape(trace_shape)
    check_tolerance(validation_tolerance)
    trace, result = convert_trace(
        model,
        args,
        kwargs,
        input_shapes,
        inputs_channel_order,
        outputs_channel_order,
        input_names,
        output_names,
        dump_ir,
    )
    name = model_name(model)
    stop_on_failure(trace, result, name, verbose, save_trace_html)

    from ferry.keras import build_keras_model
    from ferry.validate import validate_keras

    assert result.graph is not None
    users = _user_callables(trace, result)
    build = build_keras_model(result.graph, user_callables=users, model_name=_keras_name(name))
    import keras

    def probe(outputs: list[Any]) -> Any:
        return keras.Model(inputs=build.model.inputs, outputs=outputs)

    report = validate_keras(
        probe,
        build.tensors,
        trace,
        result.graph,
        result.converted,
        validation_tolerance,
        full_validation,
    )
    show_report(trace, result, report, name, verbose, save_trace_html)
    if verbose:
        print(summary(result, report))
    build.model.ferry_report = report  # type: ignore[attr-defined]
    build.model.ferry_layout = LayoutSummary.from_core(result)  # type: ignore[attr-defined]
    if return_outputs_pt:
        return build.model, _outputs_pt(trace)
    return build.model


def refuse_trace_shape(trace_shape: bool) -> None:
    if trace_shape:
        raise NotImplementedError("ferry: trace_shape=True (dynamic shapes) is not supported yet")


def stop_on_failure(
    trace: Trace, result: CoreResult, name: str, verbose: bool, save_trace_html: bool | str
) -> None:
    """Shows the tree and raises when a call has no converter or a rule refused one: both
    back ends stop there, before building anything."""
    if not result.unsupported and not result.errors:
        return
    show_report(trace, result, None, name, verbose, save_trace_html)
    if result.unsupported:
        raise unsupported_error(trace, result)
    raise conversion_error(trace, result)


def check_tolerance(tolerance: Any) -> None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ValueError(
            f"ferry: validation_tolerance must be a non-negative number, got {tolerance!r}"
        )


def model_name(model: Any) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__name__", "model")


def show_report(
    trace: Trace,
    result: CoreResult,
    report: Any,
    name: str,
    verbose: bool,
    save_trace_html: bool | str,
) -> None:
    """Prints the conversion tree (and/or saves it as HTML) with each call's status."""
    if not verbose and not save_trace_html:
        return
    from ferry.core_bridge import rules as core_rules

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
    if verbose:
        print(render_tree(trace, info), file=sys.stdout)
    if save_trace_html:
        path = save_trace_html if isinstance(save_trace_html, str) else "trace.html"
        write_html(path, trace, info, f"Ferry: {name}")


def summary(result: CoreResult, report: Any = None) -> str:
    text = f"Ferry: {len(result.converted)} calls converted; {LayoutSummary.from_core(result)}"
    if report is not None:
        diffs = ", ".join(f"{a:.3g}" for a, _ in report.outputs)
        text += f"; max abs diff of outputs: {diffs}"
    return text


def layout_summary(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
) -> LayoutSummary:
    """Traces and converts in the core only (no TensorFlow needed) and reports the channel
    order the solver chose: transposes and bytes moved, against node-by-node decisions."""
    trace, result = convert_trace(
        model, args, kwargs, None, inputs_channel_order, outputs_channel_order, None, None, None
    )
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
