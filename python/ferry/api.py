"""pytorch_to_keras: the Keras back end, between the steps every back end shares
(ferry.pipeline) and the verdict (ferry.verdict)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ferry.converters import ChannelOrder, UserConverter
from ferry.core_bridge import CoreResult
from ferry.errors import ConversionError, ValidationError
from ferry.imported_quantization import readable_model, refuse_unless_integer
from ferry.pipeline import (
    Conversion,
    OrderSpec,
    check_options,
    check_trace_shape,
    convert_trace,
    model_name,
    trace_for,
    trace_model,
)
from ferry.progress import Progress, Verbosity
from ferry.summary import LayoutSummary
from ferry.trace.model import Trace, TraceNode
from ferry.verdict import (
    conversion_error,
    judge,
    show_report,
    stop_on_failure,
    summary,
    unsupported_error,
)

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


# --- Keras ----------------------------------------------------------------------------------


def pytorch_to_keras(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    input_shapes: dict[Any, Sequence[int | None]] | None = None,
    dynamic_dims: dict[Any, dict[int, str]] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    trace_shape: bool = False,
    full_validation: bool = True,
    validation_tolerance: float = 1e-4,
    validate_shapes: Sequence[Any] | None = None,
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

    `validate_shapes`: with free dims (None in `input_shapes`, or `dynamic_dims`), other sizes
    to run the Keras model at, on fresh random inputs against PyTorch: each a shape (one
    input), a list of shapes (one per input) or a dict from input to shape. A size beyond
    tolerance fails the conversion as a divergent output does.
    """
    check_trace_shape(trace_shape)
    html = check_options(validation_tolerance, on_mismatch, verbose, save_trace_html)
    # A model quantized by PyTorch's eager flow runs on quantized tensors: its float twin
    # spells the same rounding as a PT2E graph does (the user's model is left alone).
    model = readable_model(model, args, kwargs)
    traced = trace_for(
        "Keras",
        model,
        args,
        kwargs,
        input_shapes,
        dynamic_dims,
        input_names,
        output_names,
        trace_shape,
        validate_shapes,
        verbose,
    )
    trace, name, progress = traced.trace, traced.name, traced.progress
    sizes, examples = traced.sizes, traced.examples
    refuse_unless_integer(trace, None, "keras")
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
    if sizes:
        from ferry.validate.sizes import check_sizes

        runner = probe([build.tensors[vid] for vid in result.graph.outputs])

        def run(feed: list[Any]) -> list[Any]:
            out = runner(feed, training=False)
            return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

        with progress.stage("validating", f"at {len(sizes)} other sizes"):
            report.sizes = check_sizes(
                sizes,
                model,
                args or [],
                kwargs,
                examples,
                trace,
                result.graph,
                run,
                validation_tolerance,
            )
    show_report(conv, report, verbose, html)
    if verbose is True:
        print(summary(result, report))
    report.stages, report.core_stages = list(progress.seconds), list(result.seconds)
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
