"""pytorch_to_tflite: trace, convert and write `.tflite` in the C++ core, validate in LiteRT.

Needs neither TensorFlow nor Keras: this module imports only the tracer, the core bridge
and (for validation) ai-edge-litert.
"""

from __future__ import annotations

import mmap
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ferry.converters import ChannelOrder
from ferry.core_bridge import CoreResult, TfliteRequest
from ferry.errors import ConversionError, OptionNotUsedWarning, ValidationError
from ferry.imported_quantization import (
    file_scales,
    holds_own_quantization,
    model_scales,
    readable_model,
    refuse_unless_integer,
)
from ferry.litert import interpreter, run_tflite, to_real, to_tensor
from ferry.litert import quantized as litert_quantized
from ferry.pipeline import (
    Conversion,
    OrderSpec,
    check_options,
    check_trace_shape,
    convert_trace,
    declared_inputs,
    trace_for,
)
from ferry.progress import Progress, Verbosity
from ferry.quiet import quiet_stderr
from ferry.trace.model import Trace
from ferry.user_tflite import user_converters_for_tflite
from ferry.validate.compare import (
    ValidationReport,
    checked_values,
    compare,
    model_inputs,
)
from ferry.validate.sizes import check_sizes
from ferry.verdict import judge, show_report, stop_on_failure, summary

PLACEMENTS = ("auto", "inline", "external")
RECURRENT_FORMS = ("unrolled", "sequence")


def validate_tflite(
    model: bytes | str,
    trace: Trace,
    result: CoreResult,
    tolerance: float,
    full: bool,
    progress: Progress | None = None,
    quantized: bool = False,
) -> ValidationReport:
    """Runs the written model once in LiteRT on the traced inputs and compares its outputs
    and, with `full`, every intermediate tensor the file kept (preserved by the interpreter)
    with the value PyTorch recorded for the same traced value: the report the Keras path
    gives, node by node. Values folded or fused into another op have no tensor; their call is
    checked through the tensor that replaced them. `quantized`: measure each SQNR too."""
    graph = result.graph
    assert graph is not None
    with quiet_stderr():  # "Created TensorFlow Lite XNNPACK delegate"
        runner = interpreter(model, preserve=full)
        runner.allocate_tensors()
    for detail, array in zip(runner.get_input_details(), model_inputs(trace, graph)):
        runner.set_tensor(detail["index"], to_tensor(detail, array))
    runner.invoke()
    outputs = [d["index"] for d in runner.get_output_details()]
    tensors = dict(result.tflite_tensors)
    for vid, index in zip(graph.outputs, outputs):
        tensors[vid] = index  # constant outputs too: the writer's map has computed values only
    # An int8 file's tensors are compared as the real values they stand for.
    details = {d["index"]: d for d in runner.get_tensor_details()} if quantized else {}
    computed: dict[int, np.ndarray] = {}
    steps: dict[int, float] = {}
    for vid in checked_values(graph, tensors, full):
        try:
            array = np.array(runner.get_tensor(tensors[vid]))
            detail = details.get(tensors[vid])
            computed[vid] = to_real(detail, array) if detail else array
            params = litert_quantized(detail) if detail else None
            if params is not None:
                steps[vid] = params[0]
        except ValueError:
            # A tensor nothing reads (an LSTM's unused sequence output inside an XNNPACK
            # partition) may never be materialised: its call stays unchecked, not failed.
            if vid in graph.outputs:
                raise
    return compare(
        computed, trace, graph, result.converted, tolerance, full, progress, quantized, steps
    )


QUANTIZE_MODES = ("float16", "dynamic_int8", "int8", "int16x8")


IO_DTYPES = ("float32", "int8", "uint8")


def quantization_mode(quantize: str | None, float16_weights: bool) -> tuple[bool, bool]:
    """(float16 weights, int8 weights) for `quantize`, checked before any work."""
    if quantize is None:
        return float16_weights, False
    if quantize not in QUANTIZE_MODES:
        raise ValueError(
            f"ferry: quantize must be one of {', '.join(QUANTIZE_MODES)} (or None), got "
            f"{quantize!r}"
        )
    if float16_weights and quantize != "float16":
        raise ValueError(
            f"ferry: float16_weights=True and quantize={quantize!r} ask for two different "
            "weight formats; pass one"
        )
    return quantize == "float16", quantize == "dynamic_int8"


def _check_int8_options(
    quantize: str | None, calibration_data: Any, io_dtype: str, observer: str
) -> None:
    from ferry.calibration import OBSERVERS

    if quantize not in ("int8", "int16x8"):
        for name, value, default in (
            ("calibration_data", calibration_data, None),
            ("io_dtype", io_dtype, "float32"),
            ("observer", observer, "minmax"),
        ):
            if value is not default and value != default:
                raise ValueError(f"ferry: {name} applies to quantize='int8' or 'int16x8' only")
        return
    if quantize == "int16x8" and io_dtype != "float32":
        raise ValueError(
            "ferry: io_dtype applies to quantize='int8' only: an int16x8 file takes and gives "
            "float32"
        )
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"ferry: io_dtype must be one of {', '.join(IO_DTYPES)}, got {io_dtype!r}")
    if observer not in OBSERVERS:
        raise ValueError(f"ferry: observer must be one of {', '.join(OBSERVERS)}, got {observer!r}")


def pytorch_to_tflite(
    model: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    input_shapes: dict[Any, Sequence[int | None]] | None = None,
    dynamic_dims: dict[Any, dict[int, str]] | None = None,
    inputs_channel_order: OrderSpec = ChannelOrder.TENSORFLOW,
    outputs_channel_order: OrderSpec = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    validate: bool = True,
    full_validation: bool = True,
    validation_tolerance: float | None = None,
    validate_shapes: Sequence[Any] | None = None,
    float16_weights: bool = False,
    quantize: str | None = None,
    calibration_data: Any = None,
    io_dtype: str = "float32",
    observer: str = "minmax",
    keep_float: Sequence[str] = (),
    buffer_placement: str = "auto",
    recurrent: str | None = None,
    trace_shape: bool = False,
    save_trace_html: bool | str = False,
    dump_ir: bool | None = None,
    verbose: Verbosity = True,
    return_report: bool = False,
    on_mismatch: str = "raise",
) -> Any:
    """Converts a PyTorch module into a `.tflite` model, written by Ferry's C++ core.

    Returns the file's bytes (with `return_report`, a pair (bytes, ValidationReport)). With
    `path`, the file is streamed to a temporary name beside it, validated from there and
    renamed into place; a model in the large-model layout (weights after the flatbuffer,
    see `buffer_placement`) is then returned as a read-only memory map of the file rather
    than copied into memory.

    With `validate`, the model runs once in LiteRT on the traced inputs; every output must be
    within `validation_tolerance` x max(1, largest PyTorch magnitude) of PyTorch's, or
    ValidationError is raised (naming the first divergent call) and nothing is written,
    unless on_mismatch="warn". With `full_validation`, every intermediate tensor is compared
    too and shown per call in the conversion tree (`verbose`: True, "failures" or False;
    `save_trace_html`), as `pytorch_to_keras` does. The tolerance defaults to 1e-4, or 1e-2
    with `float16_weights` (weights rounded to 11 significant bits).

    User converters return TensorFlow callables, which a file written without TensorFlow
    cannot run: one that hands back its argument (an order hint) is written as an identity
    under its channel-order strategy; any other is refused before the conversion starts.

    `quantize`: "float16" (the same as `float16_weights`: weights stored as float16, each read
    through a DEQUANTIZE), "dynamic_int8" (dynamic-range quantization: conv and dense kernels
    stored as INT8, symmetric per output channel, run by the builtins' hybrid kernels, which
    quantize their float input on the fly; depthwise kernels, which XNNPACK cannot run so,
    other weights and every activation stay float32; the tolerance then defaults to 0.1),
    "int8" (full integer: activations INT8 per tensor, asymmetric, with ranges observed over
    `calibration_data`; kernels INT8 symmetric per output channel, biases INT32; run by
    XNNPACK's int8 kernels; tolerance 0.25) or "int16x8" (the same with INT16 symmetric
    activations and INT64 biases, run by the builtin kernels, for models 8-bit activations
    break; tolerance 0.1). docs/quantization.md has the details.
    `calibration_data` (int8, int16x8): an iterable of samples, each the model's positional
    arguments as a tuple (a lone tensor for one argument), or a callable returning one; each
    is checked against the example before any work. `observer`: how a tensor's range is
    chosen from the calibration values, "minmax", "percentile" or "mse" (ferry.calibration).
    `io_dtype` (int8): the file's inputs and outputs as "float32" (one QUANTIZE / DEQUANTIZE
    at the boundary), "int8" or "uint8" (quantized; read each tensor's scale and zero point).
    `keep_float`: module paths ("features.0", also every module inside it) or TF-level ops
    ("conv", "dense") whose kernels stay float32 (with integer activations, whose operators
    run in float32 between DEQUANTIZE and QUANTIZE); an entry that matches nothing says so
    (OptionNotUsedWarning). With `full_validation`, each checked call's SQNR and cosine
    against PyTorch are in the report (`ferry.quantization_report`, worst first).

    `buffer_placement`: "auto" keeps weights inside the flatbuffer unless they approach its
    2 GB limit, "external" always appends them after it, "inline" never does.

    `validate_shapes`: with free dims (None in `input_shapes`, or `dynamic_dims`), other sizes
    to run the written file at, resized, on fresh random inputs against PyTorch: each a shape
    (one input), a list of shapes (one per input) or a dict from input to shape. A size beyond
    tolerance fails the conversion as a divergent output does.

    `recurrent`: how `nn.LSTM` layers are written. "sequence" (the default, None) writes each
    direction as one UNIDIRECTIONAL_SEQUENCE_LSTM (a few operators in all, a builtin kernel
    XNNPACK does not take); "unrolled" spells every time step out in plain operators, which
    XNNPACK runs and parallelises. Both are stateless across invoke() calls; docs/tflite.md
    "Recurrent layers" compares their latency. A layer the sequence form cannot express (the
    model reads its final cell state c_n) is written unrolled with an OptionNotUsedWarning
    naming it. GRU layers are always unrolled (there is no GRU builtin; recurrent="sequence"
    says so once), and a chosen form on a model without LSTM warns that it had no effect.
    """
    check_trace_shape(trace_shape)
    float16_weights, int8_weights = quantization_mode(quantize, float16_weights)
    _check_int8_options(quantize, calibration_data, io_dtype, observer)
    full_int8 = quantize in ("int8", "int16x8")  # integer activations, calibrated
    keep = list(keep_float)
    if keep and not (int8_weights or full_int8):
        raise ValueError(
            "ferry: keep_float applies to quantize='dynamic_int8', 'int8' or 'int16x8' only"
        )
    if buffer_placement not in PLACEMENTS:
        raise ValueError(
            f"ferry: buffer_placement must be one of {', '.join(PLACEMENTS)}, "
            f"got {buffer_placement!r}"
        )
    if recurrent is not None and recurrent not in RECURRENT_FORMS:
        raise ValueError(
            f"ferry: recurrent must be one of {', '.join(RECURRENT_FORMS)} (or None for the "
            f"default), got {recurrent!r}"
        )
    tolerance = validation_tolerance
    if tolerance is None:
        tolerance = (
            0.25
            if quantize == "int8"
            else 0.1
            if int8_weights or full_int8
            else 1e-2
            if float16_weights
            else 1e-4
        )
    html = check_options(tolerance, on_mismatch, verbose, save_trace_html)
    # A model quantized by PyTorch's eager flow runs on quantized tensors: its float twin
    # spells the same rounding as a PT2E graph does (the user's model is left alone).
    given = model
    model = readable_model(model, args, kwargs)
    eager = model is not given
    if eager and full_int8:
        from ferry.eager_quantization import float_kernels

        # What PyTorch left float (a classifier after the DeQuantStub) stays float.
        keep += [path for path in float_kernels(model) if path not in keep]
    target = None
    if path is not None:
        from ferry.files import check_output_path

        target = check_output_path(os.fspath(path), (".tflite",))
    samples: list[Any] = []
    own_scales_only = False
    if full_int8:
        from ferry.calibration import calibration_samples

        if calibration_data is None and quantize == "int8":
            if eager:
                # Its grids come with it. Every tensor between its stubs is on one; a tensor
                # the lowering makes that PyTorch had none for (a convolution with the
                # Hardsigmoid after it folded in) takes its range from the example.
                calibration_data = [tuple(args or [])]
            elif holds_own_quantization(model):
                # Its scales come with it; what it leaves in float stays float.
                calibration_data = [tuple(args or [])]
                own_scales_only = True
        samples = calibration_samples(
            calibration_data,
            model,
            kwargs,
            declared_inputs(model, args, kwargs, input_shapes, dynamic_dims, input_names),
        )
    traced = trace_for(
        ".tflite",
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
    refuse_unless_integer(trace, quantize, "tflite")
    if sizes and not validate:
        warnings.warn(
            OptionNotUsedWarning("ferry: validate_shapes has no effect with validate=False"),
            stacklevel=2,
        )
    identities = user_converters_for_tflite(trace)
    request = TfliteRequest(
        float16=float16_weights,
        int8_weights=int8_weights,
        keep_float=keep,
        placement=buffer_placement,
        # The sequence LSTM kernel has no int8 form here: int8 spells the steps out.
        recurrent=recurrent or ("unrolled" if full_int8 else ""),
        recurrent_chosen=recurrent is not None,
    )

    if full_int8:
        with progress.stage("calibrating", f"on {len(samples)} inputs ({observer})"):
            calibrate(
                model,
                kwargs,
                trace,
                request,
                samples,
                observer,
                quantize,
                inputs_channel_order,
                outputs_channel_order,
                progress,
                identities,
                io_dtype,
                own_scales_only,
            )

    def convert() -> tuple[CoreResult, ValidationReport]:
        result = convert_trace(
            trace,
            inputs_channel_order,
            outputs_channel_order,
            dump_ir,
            progress,
            tflite=request,
            identity_users=identities,
        )
        conv = Conversion(trace, result, name, progress, "tflite")
        stop_on_failure(conv, verbose, html)
        if result.tflite_error:
            raise ConversionError(f"ferry: {result.tflite_error}; nothing was written")
        for text in result.tflite_warnings:
            warnings.warn(OptionNotUsedWarning(f"ferry: {text}"), stacklevel=3)
        report = ValidationReport(tolerance=tolerance, validated=False)
        if validate:
            source: bytes | str = request.path or result.tflite  # type: ignore[assignment]
            with progress.stage("validating", "in LiteRT against PyTorch"):
                report = validate_tflite(
                    source,
                    trace,
                    result,
                    tolerance,
                    full_validation,
                    progress,
                    int8_weights or full_int8,
                )
            if report.quantized and full_validation and isinstance(model, torch.nn.Module):
                from ferry.quantization import removable_noise

                with progress.stage("ranking layers", "by what keeping each float would win"):
                    report.removable_db = removable_noise(report, model, args or [], kwargs)
            if sizes:
                assert result.graph is not None
                with progress.stage("validating", f"at {len(sizes)} other sizes"):
                    report.sizes = check_sizes(
                        sizes,
                        model,
                        args or [],
                        kwargs,
                        examples,
                        trace,
                        result.graph,
                        lambda feed: (
                            run_tflite(source, feed, dequantize=True)
                            if full_int8
                            else run_tflite(source, feed)
                        ),
                        tolerance,
                    )
        show_report(conv, report if validate else None, verbose, html)
        if validate:
            if verbose is True:
                print(summary(result, report), file=sys.stdout)
            judge(conv, report, on_mismatch, ".tflite model")
        return result, report

    if target is None:
        result, report = convert()
        data: Any = result.tflite
    else:
        from ferry.files import atomic_path

        # Streamed to a temporary name, validated from there, renamed when all is well.
        with atomic_path(target) as tmp:
            request.path = tmp
            result, report = convert()
        progress.say(f"wrote {target}")
        data = _read_back(target, result.tflite_external)
    report.stages, report.core_stages = list(progress.seconds), list(result.seconds)
    return (data, report) if return_report else data


def calibrate(
    model: Any,
    kwargs: dict[str, Any] | None,
    trace: Trace,
    request: TfliteRequest,
    samples: list[Any],
    observer: str,
    quantize: str,
    inputs_channel_order: OrderSpec,
    outputs_channel_order: OrderSpec,
    progress: Progress,
    identities: dict[int, str],
    io_dtype: str,
    own_scales_only: bool = False,
) -> None:
    """Writes the float file from the trace, observes its tensors' ranges over the
    calibration inputs (PyTorch's values where a tensor holds one: `model` traced again on
    each) and asks the writer for the integer file (`request` is filled in)."""
    from ferry.calibration import feeds, observe_ranges, pytorch_values

    float_result = convert_trace(
        trace,
        inputs_channel_order,
        outputs_channel_order,
        None,
        progress,
        tflite=TfliteRequest(
            placement=request.placement,
            recurrent=request.recurrent,
            recurrent_chosen=request.recurrent_chosen,
        ),
        identity_users=identities,
    )
    if float_result.tflite is None or float_result.graph is None:
        # The same conversion fails again below and says why; no ranges means no int8 file.
        request.int8_tensors = 0
        return
    inputs = feeds(samples, trace.inputs, float_result.graph)
    # PyTorch's own values for the tensors that hold one: the model traced on each sample.
    theirs = pytorch_values(model, kwargs, trace, float_result.graph, float_result.tflite_tensors)
    count, ranges, from_pytorch = observe_ranges(
        float_result.tflite, inputs, observer, lambda k: theirs(samples[k])
    )
    progress.say(
        f"observed {len(ranges)} tensors: {from_pytorch} on PyTorch's values, "
        f"{len(ranges) - from_pytorch} inside lowerings on the float file"
    )
    request.int8_tensors, request.int8_ranges, request.io_dtype = count, ranges, io_dtype
    scales = model_scales(trace)
    if scales:
        request.int8_fixed, request.kernel_scales = file_scales(
            scales,
            float_result.graph,
            float_result.tflite_tensors,
            float_result.tflite_constants,
        )
        request.model_scales_only = own_scales_only
        progress.say(
            f"kept the model's own scales: {len(request.int8_fixed)} tensors, "
            f"{len(request.kernel_scales)} kernels"
        )
    request.int16 = quantize == "int16x8"


def _read_back(path: str, external: bool) -> Any:
    with open(path, "rb") as f:
        if not external:
            return f.read()
        # Gigabytes of weights: map the file instead of copying it into memory.
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


__all__ = ["ValidationError", "pytorch_to_tflite", "run_tflite", "validate_tflite"]
