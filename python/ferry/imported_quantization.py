"""A model PyTorch quantized itself (PT2E: torchao's prepare_pt2e / convert_pt2e; the eager
flow's modules are read through a float twin, eager_quantization.py): its
quantize / dequantize calls carry the scales it was calibrated or trained with, and
quantize="int8" keeps them in the `.tflite` file instead of calibrating again.

In the converted graph a quantize / dequantize pair passes its float input on unchanged
(cpp/lower/quantized.cc); the pair's scale and zero point become the int8 parameters of the
tensor it quantizes (uint8 ones shifted to int8: the same reals). A kernel's
dequantize_per_channel is folded to float weights like any call on constants; its per-channel
scales become the INT8 kernel's, which recover PyTorch's integers exactly. Tensors the model
leaves in float (PT2E often leaves the last layer's output so) are calibrated like any int8
conversion's: on calibration_data when given, else on the traced example input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ferry.errors import ConversionError
from ferry.tfgraph import TfGraph
from ferry.trace.model import Trace, TraceNode

QUANTIZE = "quantized_decomposed.quantize_per_tensor"
DEQUANTIZE = "quantized_decomposed.dequantize_per_tensor"
PER_CHANNEL = "quantized_decomposed.dequantize_per_channel"
_RANGES = {torch.int8: (-128, 127), torch.uint8: (0, 255)}


@dataclass
class ModelScales:
    activations: dict[int, tuple[float, int]] = field(default_factory=dict)  # value -> int8
    kernels: dict[int, list[float]] = field(default_factory=dict)  # weight value -> scales

    def __bool__(self) -> bool:
        return bool(self.activations or self.kernels)


def _where(node: TraceNode) -> str:
    return f" (invoked at {node.invoked})" if node.invoked else ""


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def model_scales(trace: Trace) -> ModelScales:
    """The scales a quantized model carries, by traced value; refuses forms Ferry cannot keep
    exactly (4-bit or 16-bit ranges, asymmetric kernels)."""
    scales = ModelScales()
    for node in trace.nodes:
        op = node.op
        if op.startswith((QUANTIZE, DEQUANTIZE)):
            dtype = node.args.get("dtype")
            bounds = (int(node.args.get("quant_min", 0)), int(node.args.get("quant_max", 0)))
            if _RANGES.get(dtype) != bounds:
                raise ConversionError(
                    f"ferry: {op} to {dtype} over {bounds}{_where(node)}: only the full int8 "
                    "or uint8 range is kept in .tflite; nothing was written"
                )
            scale = _scalar(node.args["scale"])
            zero = int(_scalar(node.args["zero_point"])) - (128 if dtype == torch.uint8 else 0)
            refs = node.input_refs()[:1] + node.output_refs()
            for ref in refs:
                if trace.values[ref.value].dtype.is_floating_point:
                    scales.activations[ref.value] = (scale, zero)
        elif op.startswith(PER_CHANNEL):
            zeros = trace.values[node.args["zero_points"].value].data
            if bool(zeros.any()):
                raise ConversionError(
                    f"ferry: {op}{_where(node)}: an asymmetric kernel (zero points not 0); "
                    "TFLite's int8 kernels are symmetric; nothing was written"
                )
            channel_scales = trace.values[node.args["scales"].value].data
            for ref in node.output_refs():
                scales.kernels[ref.value] = [float(s) for s in channel_scales.reshape(-1)]
    return scales


def holds_own_quantization(model: Any) -> bool:
    """Whether `model` is a graph PyTorch's PT2E flow converted (it calls quantize /
    dequantize), seen before tracing it."""
    graph = getattr(model, "graph", None)
    if not isinstance(model, torch.fx.GraphModule) or graph is None:
        return False
    return any(QUANTIZE in str(node.target) for node in graph.nodes)


def quantized_module(module: torch.nn.Module) -> bool:
    """Whether the module is one of PyTorch's quantized modules (eager flow, static or
    dynamic), told by where its class lives so that nothing quantization-related is imported
    for a float model."""
    name = type(module).__module__
    return name.startswith(
        ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized", "torch.nn.quantized")
    ) and type(module).__name__ not in ("FloatFunctional", "FXFloatFunctional")


def holds_eager_quantization(model: Any) -> bool:
    """Whether `model` holds modules PyTorch's eager flow quantized."""
    return isinstance(model, torch.nn.Module) and any(quantized_module(m) for m in model.modules())


def readable_model(model: Any, args: Any, kwargs: dict[str, Any] | None) -> Any:
    """The model to trace: an eagerly quantized one's float twin (eager_quantization.py),
    run once on the example `args` to read its grids; any other model as it is."""
    if not holds_eager_quantization(model):
        return model
    from ferry.eager_quantization import float_twin

    return float_twin(model, args, kwargs)


def refuse_unless_integer(trace: Trace, quantize: str | None, backend: str) -> None:
    """A quantized model converts only to an int8 `.tflite`: anywhere else its quantize /
    dequantize calls would silently vanish (the float graph does not round)."""
    first = next((n for n in trace.nodes if n.op.startswith((QUANTIZE, DEQUANTIZE))), None)
    if first is None or (backend == "tflite" and quantize == "int8"):
        return
    raise ConversionError(
        f"ferry: the model holds PyTorch's own quantization ({first.op}{_where(first)}): "
        "convert it with ferry.pytorch_to_tflite(..., quantize='int8'), which keeps its scales "
        "and zero points; nothing was written"
    )


def file_scales(
    scales: ModelScales, graph: TfGraph, tensors: dict[int, int], constants: dict[int, int]
) -> tuple[list[tuple[int, float, int]], list[tuple[int, list[float]]]]:
    """The model's scales by the float file's tensor index: (tensor, scale, zero point) for
    computed tensors, (tensor, per-channel scales) for kernels."""
    fixed: dict[int, tuple[float, int]] = {}
    kernels: dict[int, list[float]] = {}
    for vid, value in graph.values.items():
        if value.origin in scales.activations and vid in tensors:
            fixed.setdefault(tensors[vid], scales.activations[value.origin])
        if value.origin in scales.kernels and vid in constants:
            kernels.setdefault(constants[vid], scales.kernels[value.origin])
    return (
        [(t, s, z) for t, (s, z) in sorted(fixed.items())],
        sorted(kernels.items()),
    )
