"""Calibration for integer quantization (quantize="int8" / "int16x8"): the calibration set,
checked before any work, and the range of every computed tensor observed over it.

A tensor of the file that holds a value PyTorch computes (a call's result) is observed on
PyTorch's own value: the model runs under the tracer on each calibration input. The tensors a
lowering adds inside one PyTorch call (the steps of a layer norm), which PyTorch never
computes, are observed on the float file Ferry writes first from the same graph, run in LiteRT
with every intermediate tensor kept (it is checked against PyTorch call by call). No
TensorFlow is involved.

Observers, one per tensor, fed every calibration input in one pass:
- "minmax": the smallest and largest value seen;
- "percentile": the 0.01st and 99.99th percentiles of a uniform sample of the values (up to
  65536 per tensor), so that rare outliers do not stretch the scale;
- "mse": on the same sample, the range (the min/max range shrunk by a factor between 1 and
  0.3) whose int8 rounding and clipping error is smallest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ferry.litert import interpreter
from ferry.quiet import quiet_stderr
from ferry.tfgraph import TfGraph
from ferry.trace.model import Trace
from ferry.trace.tracer import example_inputs, trace_module
from ferry.validate.compare import torch_as_tf

OBSERVERS = ("minmax", "percentile", "mse")
SAMPLE = 1 << 16  # values kept per tensor for the percentile and MSE observers
PERCENTILE = 99.99

CalibrationData = Iterable[Any] | Callable[[], Iterable[Any]]


@dataclass
class Sample:
    args: list[Any]  # the model's positional arguments, as given
    inputs: list[torch.Tensor]  # the graph's input tensors, in the trace's order


def calibration_samples(
    calibration_data: CalibrationData | None,
    model: Any,
    kwargs: dict[str, Any] | None,
    declared: tuple[list[torch.Tensor], list[str], dict[int, dict[int, str]]],
) -> list[Sample]:
    """The calibration set, each sample's arguments and input tensors in the graph's order,
    against the conversion's `declared` inputs (ferry.pipeline.declared_inputs). Each item
    stands for the model's positional arguments (a tuple or list of them; a lone tensor for a
    one-argument model); keyword arguments stay the conversion's. Each is checked against the
    example the model is converted at: same number of tensors, dtypes and ranks, and the same
    sizes except in free dims. Raises before any work."""
    nothing = "; nothing was written"
    if calibration_data is None:
        raise ValueError(
            "ferry: quantize='int8' or 'int16x8' needs calibration_data: an iterable of input tuples like "
            "the model's arguments (or a callable returning one), ideally a few dozen real "
            "inputs, to choose the int8 scales from" + nothing
        )
    if isinstance(calibration_data, torch.Tensor):
        raise TypeError(
            "ferry: calibration_data is one tensor; give a list of input tuples, e.g. "
            "[(x,) for x in batch.split(1)]" + nothing
        )
    data = calibration_data() if callable(calibration_data) else calibration_data
    examples, names, free = declared
    samples: list[Sample] = []
    for k, item in enumerate(data):
        call = (item,) if isinstance(item, torch.Tensor) else item
        if not isinstance(call, (tuple, list)):
            raise TypeError(
                f"ferry: calibration sample {k} is a {type(item).__name__}; each sample is a "
                "tuple of the model's positional arguments" + nothing
            )
        try:
            tensors = example_inputs(model, list(call), kwargs)
        except (TypeError, ValueError) as e:
            text = str(e).removeprefix("ferry: ")
            raise type(e)(f"ferry: calibration sample {k}: {text}" + nothing) from None
        if len(tensors) != len(examples):
            raise ValueError(
                f"ferry: calibration sample {k} holds {len(tensors)} input tensors, the model "
                f"is converted with {len(examples)} ({', '.join(names)})" + nothing
            )
        for i, (t, x) in enumerate(zip(tensors, examples)):
            where = f"ferry: calibration sample {k}, input '{names[i]}'"
            if t.dtype != x.dtype or t.dim() != x.dim():
                raise ValueError(
                    f"{where}: {t.dtype} of rank {t.dim()}, the model is converted with "
                    f"{x.dtype} of rank {x.dim()}" + nothing
                )
            for d in range(t.dim()):
                if d not in free.get(i, {}) and t.shape[d] != x.shape[d]:
                    raise ValueError(
                        f"{where}: shape {tuple(t.shape)}, the model is converted at "
                        f"{tuple(x.shape)} (dim {d} is not free)" + nothing
                    )
        samples.append(Sample(list(call), tensors))
    if not samples:
        raise ValueError(
            "ferry: calibration_data is empty: int8 scales need at least one input" + nothing
        )
    return samples


def feeds(samples: list[Sample], trace_inputs: list[int], graph: TfGraph) -> list:
    """Each sample laid out as the converted model takes its inputs."""
    order = {vid: k for k, vid in enumerate(trace_inputs)}
    out = []
    for sample in samples:
        feed = []
        for vid in graph.inputs:
            value = graph.values[vid]
            feed.append(torch_as_tf(sample.inputs[order[value.origin]], value.perm))
        out.append(feed)
    return out


def pytorch_values(
    model: Any,
    kwargs: dict[str, Any] | None,
    trace: Trace,
    graph: TfGraph,
    tensors: dict[int, int],
) -> Callable[[Sample], dict[int, np.ndarray]]:
    """For a sample: the float file's tensors that hold a value PyTorch computes, with
    PyTorch's value on that sample (the model traced again; a trace that takes another path
    than the conversion's gives nothing, and the float file is read instead)."""
    held = {
        index: graph.values[vid].origin
        for vid, index in tensors.items()
        if graph.values[vid].origin >= 0
    }
    ops = [node.op for node in trace.nodes]

    def values(sample: Sample) -> dict[int, np.ndarray]:
        with torch.no_grad():
            again = trace_module(model, sample.args, kwargs)
        if [node.op for node in again.nodes] != ops:
            return {}
        out = {}
        for index, origin in held.items():
            data = again.values[origin].data
            if data.is_floating_point():
                out[index] = data.detach().float().cpu().numpy()
        return out

    return values


class RangeObserver:
    """The range of one tensor's values over the calibration set (see the module's text)."""

    def __init__(self, method: str, updates: int, seed: int) -> None:
        self.method = method
        self.lo = np.inf
        self.hi = -np.inf
        self.per_update = max(256, SAMPLE // max(1, updates))
        self.rng = np.random.default_rng(seed)
        self.sample: list[np.ndarray] = []

    def update(self, values: np.ndarray) -> None:
        flat = values.reshape(-1)
        finite = flat[np.isfinite(flat)]
        if finite.size == 0:
            return
        self.lo = min(self.lo, float(finite.min()))
        self.hi = max(self.hi, float(finite.max()))
        if self.method != "minmax":
            take = (
                finite
                if finite.size <= self.per_update
                else self.rng.choice(finite, self.per_update, replace=False)
            )
            self.sample.append(take.astype(np.float32))

    def range(self) -> tuple[float, float] | None:
        if self.lo > self.hi:
            return None
        if self.method == "minmax":
            return self.lo, self.hi
        values = np.concatenate(self.sample)
        if self.method == "percentile":
            lo, hi = np.percentile(values, [100 - PERCENTILE, PERCENTILE])
            return float(lo), float(hi)
        return _mse_range(values, self.lo, self.hi)


def _mse_range(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    best, best_error = (lo, hi), np.inf
    for factor in np.linspace(1.0, 0.3, 15):
        a, b = min(lo * factor, 0.0), max(hi * factor, 0.0)
        scale = max(b - a, 1e-6) / 255.0
        zero = np.clip(np.rint(-128.0 - a / scale), -128, 127)
        q = np.clip(np.rint(values / scale) + zero, -128, 127)
        error = float(np.mean(((q - zero) * scale - values) ** 2))
        if error < best_error:
            best, best_error = (float(a), float(b)), error
    return best


def observe_ranges(
    float_file: bytes,
    inputs: list[list[np.ndarray]],
    method: str,
    own: Callable[[int], dict[int, np.ndarray]] | None = None,
) -> tuple[int, list[tuple[int, float, float]], int]:
    """Runs the float file on every calibration input (builtin kernels, every tensor kept)
    and returns its main subgraph's tensor count with (tensor, low, high) for each computed
    float32 tensor, and how many tensors were observed on PyTorch's values: `own(k)` gives
    them for sample k (pytorch_values), read instead of the file's."""
    from ferry import _core

    info = _core.read_tflite(float_file)
    computed = [
        i
        for i, (_name, _shape, dtype, _buffer, size) in enumerate(info["tensors"])
        if dtype == "FLOAT32" and size == 0
    ]
    observers = {i: RangeObserver(method, len(inputs), seed=i) for i in computed}
    from_pytorch: set[int] = set()
    with quiet_stderr():
        runner = interpreter(float_file, preserve=True)
    details = runner.get_input_details()
    shapes: tuple[tuple[int, ...], ...] | None = None
    for k, feed in enumerate(inputs):
        # One sample's values at a time: a model's activations for every sample at once
        # would not fit in memory.
        theirs = own(k) if own is not None else {}
        now = tuple(tuple(np.shape(a)) for a in feed)
        if now != shapes:
            for detail, shape in zip(details, now):
                if tuple(detail["shape"]) != shape:
                    runner.resize_tensor_input(detail["index"], list(shape), strict=True)
            runner.allocate_tensors()
            shapes = now
        for detail, array in zip(details, feed):
            runner.set_tensor(detail["index"], np.asarray(array, dtype=detail["dtype"], order="C"))
        runner.invoke()
        for i in computed:
            if i in theirs:
                observers[i].update(theirs[i])
                from_pytorch.add(i)
                continue
            try:
                observers[i].update(np.asarray(runner.get_tensor(i)))
            except ValueError:  # never materialised: nothing reads it
                continue
    ranges = []
    for i, observer in observers.items():
        found = observer.range()
        if found is not None:
            ranges.append((i, found[0], found[1]))
    return len(info["tensors"]), ranges, len(from_pytorch)
