"""What quantization cost, layer by layer: each checked call's result in the quantized file
against PyTorch's float value (from the validation the conversion runs), worst first.

A call's SQNR includes the error it inherits from the calls before it. Its own share is the
noise it adds: in power relative to the signal, 10^(-out/10) - 10^(-in/10), with `in` the
worst SQNR among the calls making its inputs. The report sorts by that share, so the first
row is the layer whose quantization costs most, not merely the last one."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ferry.errors import OptionNotUsedWarning
from ferry.validate.compare import ValidationReport


@dataclass(frozen=True)
class LayerError:
    node: int  # trace node id
    op: str  # the call, as the conversion tree names it
    scope: str  # module path
    invoked: str  # file:line of the user's code that made the call
    sqnr_db: float  # signal to noise of its result against PyTorch's (inf: identical)
    own_sqnr_db: float  # the same for the noise this call adds to what its inputs carry
    max_abs: float  # largest absolute difference
    # With the model given: the smallest module at or around `scope` holding a convolution or
    # linear layer, whose kernels quantization touches (what to name in keep_float); "" if none.
    module: str = ""
    cosine: float = 1.0  # cosine similarity of its result with PyTorch's

    def __str__(self) -> str:
        where = f" [{self.scope}]" if self.scope else ""
        at = f" at {self.invoked}" if self.invoked else ""
        return (
            f"{self.own_sqnr_db:.1f} dB own, {self.sqnr_db:.1f} dB in all  {self.op}{where}{at} "
            f"(max abs diff {self.max_abs:.3g}, cosine {self.cosine:.4f})"
        )


def quantization_report(
    report: ValidationReport, model: torch.nn.Module | None = None
) -> list[LayerError]:
    """Every call the validation checked, worst first by the noise it adds, from the report a
    conversion returns (`pytorch_to_tflite(..., quantize=..., return_report=True)`). Calls whose
    result the file does not keep (a conv fused into the activation after it) are left out:
    their error shows in the call that absorbed them, whose `module` (with `model` given) is
    the module holding that conv. Needs full validation: without it the list is empty."""
    modules = dict(model.named_modules()) if model is not None else {}
    rows = [
        LayerError(
            c.node,
            c.op,
            c.scope,
            c.invoked,
            c.sqnr_db,
            _own(c.sqnr_db, c.input_sqnr_db),
            c.max_abs,
            _kernel_module(modules, c.scope) or "",
            c.cosine,
        )
        for c in report.nodes.values()
        if c.checked and c.sqnr_db != math.inf  # an identical result cost nothing
    ]
    return sorted(rows, key=lambda row: (row.own_sqnr_db, row.sqnr_db, row.node))


def _own(out_db: float, in_db: float) -> float:
    """The SQNR of the noise a call adds, from its output's and its inputs' SQNR."""
    added = 10 ** (-out_db / 10) - (10 ** (-in_db / 10) if math.isfinite(in_db) else 0.0)
    return -10 * math.log10(added) if added > 0 else math.inf


def _converter(
    model: torch.nn.Module, args: Sequence[Any], quantize: str, options: dict[str, Any]
) -> Any:
    from ferry.tflite import pytorch_to_tflite

    def convert(kept: list[str]) -> ValidationReport:
        _, report = pytorch_to_tflite(
            model,
            args,
            quantize=quantize,
            keep_float=list(kept),
            return_report=True,
            **{"verbose": False, "on_mismatch": "warn", **options},
        )
        return report

    return convert


def _worst_output(report: ValidationReport) -> float:
    return min(report.output_sqnr_db, default=math.inf)


def keep_float_gains(
    model: torch.nn.Module,
    args: Sequence[Any],
    *,
    quantize: str = "dynamic_int8",
    candidates: Sequence[str] | None = None,
    top: int = 6,
    **options: Any,
) -> list[tuple[str, float]]:
    """What keeping each candidate module in float buys, measured: (module path, output SQNR
    with it kept float minus without, in dB), largest first. The report's ranking estimates a
    layer's cost from the noise it adds, which is what int8 weights cost; with int8
    activations a module kept float still hands an int8 tensor on, and noise added early is
    partly re-quantized away, so only converting again tells. Candidates default to the
    `top` modules the report ranks worst and the modules whose calls make the model's outputs
    (where no int8 step follows). `options` go to pytorch_to_tflite (calibration_data, ...)."""
    convert = _converter(model, args, quantize, options)
    base = convert([])
    if candidates is None:
        ranked = [row.module for row in quantization_report(base, model) if row.module]
        found = list(dict.fromkeys(ranked))[:top]
        for module in _output_modules(base, model):
            if module not in found:
                found.append(module)
        candidates = found
    reached = _worst_output(base)
    gains = [(c, _worst_output(convert([c])) - reached) for c in dict.fromkeys(candidates)]
    return sorted(gains, key=lambda item: -item[1])


def _output_modules(report: ValidationReport, model: torch.nn.Module) -> list[str]:
    """The modules holding a kernel around the calls that make the model's outputs."""
    modules = dict(model.named_modules())
    found = [_kernel_module(modules, scope) for scope in report.output_scopes]
    return list(dict.fromkeys(m for m in found if m))


def suggest_keep_float(
    model: torch.nn.Module,
    args: Sequence[Any],
    target_sqnr_db: float,
    *,
    max_layers: int = 8,
    quantize: str = "dynamic_int8",
    **options: Any,
) -> list[str]:
    """Module paths to pass as `keep_float` so that every output of the quantized file
    reaches `target_sqnr_db` against PyTorch on `args`. Greedily: the next layer the report
    ranks (widened to the smallest module around it that holds a convolution or linear layer,
    the kernels quantization touches; with quantize="int8" the modules making the outputs come
    first, where no int8 step follows) is kept float and the model converted again; a choice
    that does not raise the output's SQNR is dropped. At most `max_layers` are kept and twice
    as many tried; short of the target it warns and returns what it kept. `options` go to
    pytorch_to_tflite (calibration_data for "int8", ...)."""
    convert = _converter(model, args, quantize, options)
    kept: list[str] = []
    tried: set[str] = set()
    report = convert(kept)
    reached = _worst_output(report)
    while reached < target_sqnr_db and len(kept) < max_layers and len(tried) < 2 * max_layers:
        ranked = [row.module for row in quantization_report(report, model) if row.module]
        if quantize == "int8":
            ranked = _output_modules(report, model) + ranked
        choice = next((m for m in ranked if m not in tried and m not in kept), None)
        if choice is None:
            break
        tried.add(choice)
        attempt = convert([*kept, choice])
        better = _worst_output(attempt)
        if better > reached:
            kept.append(choice)
            report, reached = attempt, better
    if reached < target_sqnr_db:
        warnings.warn(
            OptionNotUsedWarning(
                f"ferry: keeping {kept or 'no layer'} in float reaches {reached:.1f} dB, not "
                f"{target_sqnr_db:.1f} dB"
            ),
            stacklevel=2,
        )
    return kept


_KERNEL_MODULES = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)


def _kernel_module(modules: dict[str, torch.nn.Module], scope: str) -> str | None:
    """The smallest module at or around `scope` that holds a convolution or linear layer."""
    path = scope
    while True:
        module = modules.get(path)
        if module is not None and any(isinstance(m, _KERNEL_MODULES) for m in module.modules()):
            return path or None
        if not path:
            return None
        path = path.rpartition(".")[0]
