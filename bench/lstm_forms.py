"""LSTM layers in LiteRT: the unrolled form against the sequence form (UNIDIRECTIONAL_SEQUENCE_LSTM).

Run from the repository root:
    .venv/bin/python bench/lstm_forms.py [--invokes 10] [--rounds 5] [--threads 1,2,4]
                                         [--only SUBSTRING] [--no-docs]

Each model (random weights, batch 1) is converted twice by ferry.pytorch_to_tflite, with
recurrent="unrolled" and recurrent="sequence", and both files are checked against PyTorch on
two fresh inputs in one interpreter. Then, per thread count, both files run in LiteRT with the
default delegates (XNNPACK): 5 warm-up invokes each, then --rounds rounds alternating between
the files (unrolled, sequence, unrolled, ...), --invokes timed invokes per file and round;
the table shows the median of all timed invokes and the ratio sequence / unrolled (above 1:
the unrolled form is faster). Updates the "lstm-forms" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter
from machine import cpu_name
from sections import write_section

import ferry
from ferry import _core

FORMS = ("unrolled", "sequence")
WARMUP = 5
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Case:
    name: str
    features: int
    hidden: int
    layers: int
    bidirectional: bool
    steps: int


CASES = [
    Case("uni T=16", 40, 128, 1, False, 16),
    Case("uni T=200", 40, 128, 1, False, 200),
    Case("bi T=16", 40, 128, 1, True, 16),
    Case("bi T=200", 40, 128, 1, True, 200),
    Case("tagger 2x bi, 1x50x40, H=256", 40, 256, 2, True, 50),
]


class Tagger(torch.nn.Module):
    """An nn.LSTM whose output sequence is the model's output (h_n, c_n unused)."""

    def __init__(self, case: Case):
        super().__init__()
        self.lstm = torch.nn.LSTM(
            case.features,
            case.hidden,
            case.layers,
            batch_first=True,
            bidirectional=case.bidirectional,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def convert(model: torch.nn.Module, x: torch.Tensor, form: str) -> bytes:
    pt = ferry.ChannelOrder.PYTORCH
    with warnings.catch_warnings():
        warnings.simplefilter("error", ferry.OptionNotUsedWarning)  # no layer may fall back
        return ferry.pytorch_to_tflite(
            model,
            [x],
            inputs_channel_order=pt,
            outputs_channel_order=pt,
            full_validation=False,
            recurrent=form,
            verbose=False,
        )


def interpreter(data: bytes, threads: int) -> Interpreter:
    it = Interpreter(model_content=data, num_threads=threads)  # default delegates: XNNPACK
    it.allocate_tensors()
    return it


def run(it: Interpreter, x: np.ndarray) -> np.ndarray:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return np.array(it.get_tensor(it.get_output_details()[0]["index"]))


def check(model: torch.nn.Module, data: bytes, case: Case, form: str) -> None:
    """Two fresh inputs through one interpreter: the second must not see the first's state."""
    it = interpreter(data, 1)
    for seed in (1, 2):
        x = torch.randn(1, case.steps, case.features, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected = model(x).numpy()
        err = float(np.abs(run(it, x.numpy()) - expected).max())
        if err > TOLERANCE * max(1.0, float(np.abs(expected).max())):
            raise SystemExit(f"{case.name} {form}: invoke {seed} differs from PyTorch by {err:.2e}")


def timed(it: Interpreter, invokes: int) -> list[float]:
    times = []
    for _ in range(invokes):
        t = time.perf_counter_ns()
        it.invoke()
        times.append((time.perf_counter_ns() - t) / 1e6)
    return times


def measure(
    files: dict[str, bytes], case: Case, threads: int, invokes: int, rounds: int
) -> dict[str, float]:
    x = np.random.default_rng(0).standard_normal((1, case.steps, case.features), np.float32)
    its = {}
    for form in FORMS:
        its[form] = interpreter(files[form], threads)
        its[form].set_tensor(its[form].get_input_details()[0]["index"], x)
        for _ in range(WARMUP):
            its[form].invoke()
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    for _ in range(rounds):
        for form in FORMS:  # alternating: a busy phase of the machine hits both files
            times[form] += timed(its[form], invokes)
    return {form: float(np.median(times[form])) for form in FORMS}


def op_count(data: bytes) -> int:
    return len(_core.read_tflite(data)["ops"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=10, help="timed invokes per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--only", default="", help="models whose name contains this")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    load_start = os.getloadavg()[0]
    header = "| model | ops unrolled / sequence | threads | unrolled ms | sequence ms | sequence / unrolled |"
    rows = [header, "| --- | --- | --- | --- | --- | --- |"]
    print(header, flush=True)
    for i, case in enumerate(CASES):
        if args.only not in case.name:
            continue
        torch.manual_seed(i)
        model = Tagger(case).eval()
        example = torch.randn(1, case.steps, case.features)
        files = {form: convert(model, example, form) for form in FORMS}
        for form in FORMS:
            check(model, files[form], case, form)
        ops = f"{op_count(files['unrolled'])} / {op_count(files['sequence'])}"
        for t in threads:
            ms = measure(files, case, t, args.invokes, args.rounds)
            row = (
                f"| {case.name} | {ops} | {t} | {ms['unrolled']:.3f} | {ms['sequence']:.3f} | "
                f"{ms['sequence'] / ms['unrolled']:.2f} |"
            )
            rows.append(row)
            print(row, flush=True)
    load_end = os.getloadavg()[0]
    if args.no_docs or args.only:  # the docs section shows every model
        return
    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}" for pkg in ("torch", "ai-edge-litert")
    )
    command = "python bench/lstm_forms.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            "## LSTM: unrolled against UNIDIRECTIONAL_SEQUENCE_LSTM",
            "",
            f"`{command.strip()}` on {cpu_name()} ({os.cpu_count()} cores, 1-minute load "
            f"average {load_start:.1f} at the start, {load_end:.1f} at the end); {versions}.",
            "",
            "Random-weight `nn.LSTM` (batch_first, batch 1, 40 features; hidden 128 unless",
            'named) whose output is the sequence, converted with `recurrent="unrolled"` and',
            '`recurrent="sequence"`; both files agree with PyTorch on two fresh inputs in one',
            f"interpreter. LiteRT with the default delegates (XNNPACK), {WARMUP} warm-up invokes,",
            f"then {args.rounds} rounds alternating between the files with {args.invokes} timed",
            "invokes each; median over all timed invokes. Above 1 in the last column: the",
            "unrolled form is faster.",
            "",
            *rows,
        ]
    )
    if max(load_start, load_end) > (os.cpu_count() or 1):
        text += (
            "\n\nThe machine was busy (load average above its cores): other processes took "
            "CPU time, so only large differences mean anything; most of all at 2 and 4 threads."
        )
    write_section("lstm-forms", text)


if __name__ == "__main__":
    main()
