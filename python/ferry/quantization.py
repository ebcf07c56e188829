"""What quantization cost, layer by layer: each checked call's result in the quantized file
against PyTorch's float value (from the validation the conversion runs), worst first.

A call's SQNR includes the error it inherits from the calls before it. Its own share is the
noise it adds: in power relative to the signal, 10^(-out/10) - 10^(-in/10), with `in` the
worst SQNR among the calls making its inputs.

What matters to a user is what that noise does at the model's output, and what keeping the
layer in float would win back. Noise added early is often damped by the layers after it, and
a layer kept float still hands an int8 tensor on, so the rounding to that tensor's grid stays.
With the model at hand the conversion therefore estimates, per module holding a kernel, the
noise keeping it float removes (its calls' own noise, less the rounding of the tensor it hands
on) and how much of it reaches the output: PyTorch runs the model again with Gaussian noise
of that power added to the module's output. The report sorts by that estimate, so its first
row names the layer worth keeping in float."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree

from ferry.errors import OptionNotUsedWarning
from ferry.pipeline import run_on_copies
from ferry.validate.compare import NodeCheck, ValidationReport


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
    # The SQNR at the model's output of the noise keeping `module` in float would remove,
    # estimated (see the module's docstring); own_sqnr_db where the conversion had no
    # module to try (a call outside any kernel module, a function instead of a module); NaN
    # for a module beyond the ESTIMATED_MODULES noisiest, which was not tried.
    removable_db: float = math.inf

    @property
    def removable(self) -> str:
        """removable_db as the report shows it."""
        if math.isnan(self.removable_db):
            return "not estimated"
        return f"{self.removable_db:.1f} dB at the output if kept float"

    def __str__(self) -> str:
        where = f" [{self.scope}]" if self.scope else ""
        at = f" at {self.invoked}" if self.invoked else ""
        return (
            f"{self.removable}, {self.own_sqnr_db:.1f} dB "
            f"own, {self.sqnr_db:.1f} dB in all  {self.op}{where}{at} "
            f"(max abs diff {self.max_abs:.3g}, cosine {self.cosine:.4f})"
        )


def quantization_report(
    report: ValidationReport, model: torch.nn.Module | None = None
) -> list[LayerError]:
    """Every call the validation checked, worst first by what keeping it in float would win
    at the output (estimated; by the noise it adds where no estimate was made), from the
    report a conversion returns (`pytorch_to_tflite(..., quantize=..., return_report=True)`).
    Calls whose result the file does not keep (a conv fused into the activation after it) are
    left out:
    their error shows in the call that absorbed them, whose `module` (with `model` given) is
    the module holding that conv. Needs full validation: without it the list is empty."""
    modules = dict(model.named_modules()) if model is not None else {}
    rows = []
    for c in _costly(report):
        own = _own(c.sqnr_db, c.input_sqnr_db)
        rows.append(
            LayerError(
                c.node,
                c.op,
                c.scope,
                c.invoked,
                c.sqnr_db,
                own,
                c.max_abs,
                _kernel_module(modules, c.scope) or "",
                c.cosine,
                report.removable_db.get(c.node, own),
            )
        )
    return sorted(rows, key=_worst_first)


def _worst_first(row: LayerError) -> tuple[bool, float, float, float, int]:
    """Estimated rows by their estimate, then those not estimated by the noise they add."""
    missing = math.isnan(row.removable_db)
    first = row.own_sqnr_db if missing else row.removable_db
    return (missing, first, row.own_sqnr_db, row.sqnr_db, row.node)


def _costly(report: ValidationReport) -> list[NodeCheck]:
    """The checked calls whose result differs from PyTorch's (an identical one cost nothing)."""
    return [c for c in report.nodes.values() if c.checked and c.sqnr_db != math.inf]


# The most modules the estimate runs the model for (one forward each), the noisiest first.
ESTIMATED_MODULES = 64


def removable_noise(
    report: ValidationReport,
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: dict[str, Any] | None = None,
) -> dict[int, float]:
    """Per checked call, the SQNR at the model's output of the noise that keeping its module
    (the smallest around it holding a convolution or linear layer) in float would remove:
    the own noise of the module's calls, less the rounding of the integer tensor it hands on
    (none for a module making an output), added as Gaussian noise of that power to the
    module's output while PyTorch runs `model` on `args` again. One run per module, for the
    modules making outputs and the ESTIMATED_MODULES with the most removable noise (a large
    model's other modules are NaN: not tried); the model, its inputs and the global random
    state are left as they were."""
    modules = dict(model.named_modules())
    grouped: dict[str, list[NodeCheck]] = {}
    for check in _costly(report):
        path = _kernel_module(modules, check.scope)
        if path is not None:
            grouped.setdefault(path, []).append(check)
    making_outputs = set(_output_modules(report, model))
    ratios: dict[str, float] = {}
    for path, checks in grouped.items():
        ratio = sum(_power(_own(c.sqnr_db, c.input_sqnr_db)) for c in checks)
        if path not in making_outputs:
            ratio -= _power(max(checks, key=lambda c: c.node).rounding_db)
        ratios[path] = ratio
    noisy = sorted(
        (path for path, ratio in ratios.items() if ratio > 0),
        key=lambda path: (path not in making_outputs, -ratios[path]),
    )
    tried = set(noisy[:ESTIMATED_MODULES])
    estimates: dict[int, float] = {}
    clean = _float_leaves(run_on_copies(model, args, kwargs))
    for path, checks in grouped.items():
        if ratios[path] <= 0:
            reached = math.inf  # nothing to win
        elif path in tried:
            reached = _with_noise(model, modules[path], ratios[path], args, kwargs, clean)
        else:
            reached = math.nan
        for check in checks:
            estimates[check.node] = reached
    return estimates


def _power(db: float) -> float:
    """Noise power relative to the signal, from an SQNR in dB."""
    return 10 ** (-db / 10) if math.isfinite(db) else (0.0 if db > 0 else math.inf)


def _float_leaves(tree: Any) -> list[torch.Tensor]:
    return [
        t.detach().double()
        for t in pytree.tree_leaves(tree)
        if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]


def _with_noise(
    model: torch.nn.Module,
    module: torch.nn.Module,
    ratio: float,
    args: Sequence[Any],
    kwargs: dict[str, Any] | None,
    clean: list[torch.Tensor],
) -> float:
    """The worst output SQNR with noise of `ratio` times its power added to `module`'s
    floating-point outputs, every time it runs."""
    generator = torch.Generator().manual_seed(0)

    def add_noise(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
        def noisy(t: Any) -> Any:
            if not (isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()):
                return t
            power = float(t.double().pow(2).mean())
            noise = torch.randn(t.shape, generator=generator, dtype=torch.float64)
            return t + (noise * math.sqrt(ratio * power)).to(t.dtype)

        return pytree.tree_map(noisy, output)

    handle = module.register_forward_hook(add_noise)
    try:
        noisy_outputs = _float_leaves(run_on_copies(model, args, kwargs))
    finally:
        handle.remove()
    worst = math.inf
    for expected, got in zip(clean, noisy_outputs):
        noise = float((expected - got).pow(2).sum())
        if noise > 0:
            worst = min(worst, 10 * math.log10(max(float(expected.pow(2).sum()), 1e-300) / noise))
    return worst


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
    with it kept float minus without, in dB), largest first. The report's ranking is an
    estimate (Gaussian noise of the removable power, where the real noise is correlated and
    interacts with the rest); converting again tells. Candidates default to the `top` modules
    the report ranks worst and the modules whose calls make the model's outputs. `options`
    go to pytorch_to_tflite (calibration_data, ...)."""
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
    the kernels quantization touches) is kept float and the model converted again; a choice
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
