"""The steps every way out of Ferry shares: checking the arguments before any work, tracing,
and the core. The back ends (`ferry.api` for Keras, `ferry.tflite`) plug in after them."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ferry.converters import ChannelOrder, disabled_rule_names
from ferry.core_bridge import CoreResult, TfliteRequest, run_core
from ferry.errors import ConversionError, OptionNotUsedWarning
from ferry.progress import Progress, check_verbose
from ferry.trace import trace_module
from ferry.trace.control_flow import branches_selected
from ferry.trace.libraries import libraries_see_tracing
from ferry.trace.model import Trace
from ferry.trace.structures import map_tensors
from ferry.trace.symbolic import free_dims_from_input_shapes, trace_symbolic
from ferry.trace.tracer import example_inputs, input_names_of
from ferry.validate.sizes import Shapes, size_entries

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


def check_trace_shape(trace_shape: Any) -> None:
    if not isinstance(trace_shape, bool):
        raise TypeError(f"ferry: trace_shape must be True or False, got {trace_shape!r}")


def _trace_shape_unused(trace_shape: bool, free: dict[int, dict[int, str]]) -> None:
    """Ferry follows every size that depends on a free dim whether or not trace_shape is set
    (keeping it fixed would convert wrong at other sizes); without free dims it does nothing."""
    if trace_shape and not free:
        warnings.warn(
            OptionNotUsedWarning(
                "ferry: trace_shape=True has no effect: no input dim is free (give None in "
                "input_shapes, or dynamic_dims), so every size is fixed at its traced value"
            ),
            stacklevel=4,
        )


@dataclass
class Traced:
    """A model traced for a back end, with what validation will need."""

    trace: Trace
    name: str
    progress: Progress
    sizes: list[Shapes]  # other sizes to run the result at (validate_shapes)
    examples: list[torch.Tensor]  # the example inputs those sizes replace


def trace_for(
    backend: str,
    model: Any,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    input_shapes: Any,
    dynamic_dims: dict[Any, dict[int, str]] | None,
    input_names: list[str] | None,
    output_names: list[str] | None,
    trace_shape: bool,
    validate_shapes: Any,
    verbose: Any,
) -> Traced:
    """The steps both fronts start with: the other sizes checked, then the model traced (on
    symbolic sizes too when dims are free). `backend` names the result in the progress line."""
    sizes, examples = size_checks(
        validate_shapes, model, args, kwargs, input_shapes, dynamic_dims, input_names
    )
    name = model_name(model)
    progress = Progress(verbose, name)
    progress.say(f"converting {name} to {backend}")
    trace = trace_model(
        model,
        args,
        kwargs,
        input_shapes,
        input_names,
        output_names,
        progress,
        dynamic_dims,
        trace_shape,
    )
    return Traced(trace, name, progress, sizes, examples)


def size_checks(
    validate_shapes: Any,
    model: Any,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    input_shapes: Any,
    dynamic_dims: dict[Any, dict[int, str]] | None,
    input_names: list[str] | None,
) -> tuple[list[Shapes], list[torch.Tensor]]:
    """The other sizes to run the converted model at (validate_shapes), checked before any
    work, with the example inputs they replace."""
    if validate_shapes is None:
        return [], []
    inputs, names, free = declared_inputs(
        model, args, kwargs, input_shapes, dynamic_dims, input_names
    )
    return size_entries(validate_shapes, inputs, names, free), inputs


def declared_inputs(
    model: Any,
    args: Sequence[Any] | None,
    kwargs: dict[str, Any] | None,
    input_shapes: Any,
    dynamic_dims: dict[Any, dict[int, str]] | None,
    input_names: list[str] | None,
) -> tuple[list[torch.Tensor], list[str], dict[int, dict[int, str]]]:
    """The example inputs as the trace takes them, their names, and the free dims declared
    for them (per input index), checked before anything runs."""
    inputs = example_inputs(model, args, kwargs)
    names = input_names_of(input_names, len(inputs))
    return inputs, names, free_dims_from_input_shapes(input_shapes, dynamic_dims, inputs, names)


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
    dynamic_dims: dict[Any, dict[int, str]] | None = None,
    trace_shape: bool = False,
) -> Trace:
    """Traces the model; with free dims (None in `input_shapes`, or `dynamic_dims`) traces it
    again on symbolic sizes so that every value knows which of its sizes follow them."""
    check_eval_mode(model)

    def trace(a: Sequence[Any], k: dict[str, Any] | None) -> Trace:
        return trace_module(model, a, k, input_names=input_names, output_names=output_names)

    # Declarations are checked before anything runs.
    inputs, names, free = declared_inputs(
        model, args, kwargs, input_shapes, dynamic_dims, input_names
    )
    _trace_shape_unused(trace_shape, free)
    if free:
        # PyTorch treats a size of 1 as a constant, so a free dim given at 1 (nobuco's batch of
        # one) is traced at 2: the example repeated along it, the caller's tensors untouched.
        args, kwargs, inputs = widen_unit_free_dims(args, kwargs, inputs, free)
    # With free sizes both traces must take the paths that hold for any input, and
    # torch.cond computes both branches (they cannot be traced on their own at free sizes).
    seen_as_traced = libraries_see_tracing() if free else contextlib.nullcontext()
    both_branches = branches_selected() if free else contextlib.nullcontext()
    with progress.stage("tracing", model_name(model)), seen_as_traced, both_branches:
        result = trace(args, kwargs)
    if free:
        with (
            progress.stage("tracing sizes", "free: " + _free_text(free, result.input_names)),
            libraries_see_tracing(),
            branches_selected(),
        ):
            symbols, dims = trace_symbolic(
                trace, args, kwargs or {}, inputs, result.input_names, free, result
            )
        result.symbols = symbols
        for vid, shape in dims.items():
            result.values[vid].dims = shape
    return result


def widen_unit_free_dims(
    args: Sequence[Any],
    kwargs: dict[str, Any] | None,
    inputs: list[torch.Tensor],
    free: dict[int, dict[int, str]],
) -> tuple[Sequence[Any], dict[str, Any] | None, list[torch.Tensor]]:
    index = {id(t): i for i, t in enumerate(inputs)}
    widened: dict[int, torch.Tensor] = {}

    def widen(t: torch.Tensor) -> torch.Tensor:
        i = index.get(id(t))
        if i is None or not any(t.shape[d] == 1 for d in free.get(i, {})):
            return t
        if id(t) not in widened:
            w = t.detach()
            for d in free[i]:
                if w.shape[d] == 1:
                    w = torch.cat([w, w], d)
            widened[id(t)] = w
        return widened[id(t)]

    if not any(inputs[i].shape[d] == 1 for i in free for d in free[i]):
        return args, kwargs, inputs
    new_args, new_kwargs = map_tensors((list(args), kwargs or {}), widen)  # args checked
    return new_args, new_kwargs, [widen(t) for t in inputs]


def _free_text(free: dict[int, dict[int, str]], names: list[str]) -> str:
    return ", ".join(
        f"{names[i]}[{d}]={symbol}" for i in sorted(free) for d, symbol in sorted(free[i].items())
    )


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


def run_on_copies(model: Any, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
    """The model's result on copies of `args` and `kwargs` (no autograd): a model writing
    into its inputs leaves the user's alone."""
    copied = map_tensors((list(args), dict(kwargs or {})), lambda t: t.clone())
    with torch.no_grad():
        return model(*copied[0], **copied[1])


def model_name(model: Any) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return getattr(model, "__name__", "model")
