"""A model quantized by PyTorch itself (PT2E, torchao's prepare_pt2e / convert_pt2e) keeps its
own scales in the int8 `.tflite` (ferry/imported_quantization.py)."""

from __future__ import annotations

import importlib
import importlib.util
import warnings

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")
# Imported only when a test here runs: importing torchao tags more aten ops as Core ATen,
# which test_core_aten reads from torch.
if importlib.util.find_spec("torchao") is None:
    pytest.skip("torchao (PT2E) is not installed", allow_module_level=True)

from quantized_file import read  # noqa: E402

import ferry  # noqa: E402
from ferry.litert import interpreter, to_real, to_tensor  # noqa: E402
from ferry.trace.tracer import trace_module  # noqa: E402


def _quantized_cnn() -> tuple[torch.nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_pt2e = importlib.import_module("torchao.quantization.pt2e.quantize_pt2e")
        x86 = importlib.import_module("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer")
        exported = torch.export.export(model, (x,)).module()
        quantizer = x86.X86InductorQuantizer().set_global(
            x86.get_default_x86_inductor_quantization_config()
        )
        prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
        g = torch.Generator().manual_seed(1)
        for _ in range(16):
            prepared(torch.randn(1, 3, 16, 16, generator=g))
        converted = quantize_pt2e.convert_pt2e(prepared)
    return converted, model, x


def _model_scales(converted: torch.nn.Module, x: torch.Tensor):
    """PyTorch's own (scale, int8 zero point) per quantized tensor, and per-channel kernel
    scales, read from the traced calls."""
    trace = trace_module(converted, [x])
    activations, kernels = set(), []
    for node in trace.nodes:
        if node.kind.name != "ATEN":
            continue
        if node.op.startswith("quantized_decomposed.quantize_per_tensor"):
            shift = 128 if node.args["dtype"] == torch.uint8 else 0
            activations.add((float(node.args["scale"]), int(node.args["zero_point"]) - shift))
        if node.op.startswith("quantized_decomposed.dequantize_per_channel"):
            kernels.append(trace.values[node.args["scales"].value].data.tolist())
    return activations, kernels


def test_a_pt2e_model_keeps_its_own_scales_and_matches_pytorch():
    converted, _, x = _quantized_cnn()
    data = bytes(ferry.pytorch_to_tflite(converted, [x], quantize="int8", verbose=False))
    ops, tensors = read(data)
    activations, kernels = _model_scales(converted, x)
    in_file = {
        (float(np.float32(t.scales[0])), int(t.zero_points[0]))
        for t in tensors
        if t.type == "INT8" and not t.constant and t.scales
    }
    assert {(float(np.float32(s)), z) for s, z in activations} <= in_file
    file_kernels = [
        tensors[op.inputs[1]].scales
        for op in ops
        if op.name in ("CONV_2D", "FULLY_CONNECTED") and tensors[op.inputs[1]].type == "INT8"
    ]
    assert len(file_kernels) == 2  # the convolutions; the classifier the model left float
    for got in file_kernels:
        assert any(np.array_equal(np.float32(got), np.float32(k)) for k in kernels)
    names = [op.name for op in ops]
    assert names[0] == "QUANTIZE" and names.count("QUANTIZE") == 1
    # The classifier's output is float in the model: it runs in float on dequantized values.
    assert names[-2:] == ["DEQUANTIZE", "FULLY_CONNECTED"]

    runner = interpreter(data)
    runner.allocate_tensors()
    (inp,), (out,) = runner.get_input_details(), runner.get_output_details()
    step = min(s for s, _ in activations)
    g = torch.Generator().manual_seed(5)
    for _ in range(4):  # fresh inputs
        fresh = torch.randn(1, 3, 16, 16, generator=g)
        runner.set_tensor(inp["index"], to_tensor(inp, fresh.permute(0, 2, 3, 1).numpy()))
        runner.invoke()
        got = to_real(out, runner.get_tensor(out["index"]))
        with torch.no_grad():
            expected = converted(fresh).numpy()
        assert np.abs(got - expected).max() <= step  # 1.5e-8 measured: the same integers


@pytest.mark.parametrize("backend", ["keras", "tflite float", "tflite dynamic_int8"])
def test_a_pt2e_model_is_refused_outside_int8(backend):
    converted, _, x = _quantized_cnn()
    with pytest.raises(ferry.ConversionError, match="holds PyTorch's own quantization"):
        if backend == "keras":
            ferry.pytorch_to_keras(converted, [x], verbose=False)
        else:
            mode = None if backend == "tflite float" else "dynamic_int8"
            ferry.pytorch_to_tflite(converted, [x], quantize=mode, verbose=False)
