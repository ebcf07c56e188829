"""Grouped 2-D convolutions in LiteRT: one native grouped CONV_2D against the split form.

Run from the repository root:
    .venv/bin/python bench/grouped_conv.py [--invokes 200] [--rounds 5]

For the grouped 3x3 convolutions of ResNeXt-50 (32x4d) and RegNet-Y-400MF (group width 8)
it builds two one-block .tflite files from the same weights:
  native  one CONV_2D (version 6) with a [Cout, kh, kw, Cin/groups] filter
  split   per group a STRIDED_SLICE of the input channels and a CONV_2D, then CONCATENATION
checks that both agree with a float64 reference, and times them in LiteRT with one thread
and the default delegates (XNNPACK), interleaved (native, split, native, split, ...): each
round takes the median of --invokes invokes per file; the table shows the median over the
rounds and the ratio split / native (above 1: the native form is faster). With --reference
the same is timed without delegates (LiteRT's own kernels).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter, OpResolverType


@dataclass(frozen=True)
class Block:
    name: str
    size: int  # input height = width, before the convolution's padding
    channels: int  # input = output channels
    groups: int
    stride: int


BLOCKS = [
    Block("resnext50 layer1", 56, 128, 32, 1),
    Block("resnext50 layer2.0", 56, 256, 32, 2),
    Block("resnext50 layer3", 14, 512, 32, 1),
    Block("resnext50 layer4", 7, 1024, 32, 1),
    Block("regnet_y_400mf s1", 56, 48, 6, 1),
    Block("regnet_y_400mf s2", 28, 104, 13, 1),
    Block("regnet_y_400mf s3", 14, 208, 26, 1),
    Block("regnet_y_400mf s4", 7, 440, 55, 1),
]


class Model:
    """A one-subgraph float32 model built with the schema's object API."""

    def __init__(self) -> None:
        self.tensors: list[fb.TensorT] = []
        self.buffers: list[fb.BufferT] = [fb.BufferT()]
        self.ops: list[fb.OperatorT] = []
        self.codes: list[tuple[int, int]] = []

    def tensor(self, shape: tuple[int, ...], data: np.ndarray | None = None, int32=False) -> int:
        t = fb.TensorT()
        t.shape = list(shape)
        t.type = fb.TensorType.INT32 if int32 else fb.TensorType.FLOAT32
        t.name = f"t{len(self.tensors)}"
        t.buffer = 0
        if data is not None:
            b = fb.BufferT()
            b.data = np.ascontiguousarray(data, np.int32 if int32 else np.float32).tobytes()
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, version: int, ins, outs, options_type=0, options=None) -> None:
        if (code, version) not in self.codes:
            self.codes.append((code, version))
        o = fb.OperatorT()
        o.opcodeIndex = self.codes.index((code, version))
        o.inputs, o.outputs = list(ins), list(outs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.ops.append(o)

    def conv(self, x: int, w: np.ndarray, b: np.ndarray, out: int, stride: int, version: int):
        opts = fb.Conv2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = fb.Padding.VALID, stride, stride
        opts.dilationHFactor = opts.dilationWFactor = 1
        ins = [x, self.tensor(w.shape, w), self.tensor(b.shape, b)]
        self.op(
            fb.BuiltinOperator.CONV_2D, version, ins, [out], fb.BuiltinOptions.Conv2DOptions, opts
        )

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        sub = fb.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = (
            self.tensors,
            self.ops,
            inputs,
            outputs,
        )
        model = fb.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], self.buffers
        model.operatorCodes = []
        for code, version in self.codes:
            c = fb.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), version
            model.operatorCodes.append(c)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def build(block: Block, native: bool, w: np.ndarray, b: np.ndarray) -> bytes:
    """w: [Cout, 3, 3, Cin/groups] (OHWI per group); the input is already padded by 1."""
    n = block.size + 2
    out_size = (n - 3) // block.stride + 1
    c, g = block.channels, block.groups
    m = Model()
    x = m.tensor((1, n, n, c))
    y = m.tensor((1, out_size, out_size, c))
    if native:
        m.conv(x, w, b, y, block.stride, 6)
        return m.finish([x], [y])
    cg = c // g
    parts = []
    for i in range(g):
        sliced = m.tensor((1, n, n, cg))
        begin = m.tensor((4,), np.array([0, 0, 0, i * cg]), int32=True)
        end = m.tensor((4,), np.array([1, n, n, (i + 1) * cg]), int32=True)
        strides = m.tensor((4,), np.array([1, 1, 1, 1]), int32=True)
        m.op(
            fb.BuiltinOperator.STRIDED_SLICE,
            1,
            [x, begin, end, strides],
            [sliced],
            fb.BuiltinOptions.StridedSliceOptions,
            fb.StridedSliceOptionsT(),
        )
        part = m.tensor((1, out_size, out_size, cg))
        m.conv(sliced, w[i * cg : (i + 1) * cg], b[i * cg : (i + 1) * cg], part, block.stride, 1)
        parts.append(part)
    opts = fb.ConcatenationOptionsT()
    opts.axis = 3
    m.op(
        fb.BuiltinOperator.CONCATENATION,
        1,
        parts,
        [y],
        fb.BuiltinOptions.ConcatenationOptions,
        opts,
    )
    return m.finish([x], [y])


def reference(block: Block, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    c, g, s = block.channels, block.groups, block.stride
    cg = c // g
    n = x.shape[1]
    o = (n - 3) // s + 1
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = np.zeros((1, o, o, c))
    for i in range(g):
        xi = x64[..., i * cg : (i + 1) * cg]
        for kh in range(3):
            for kw in range(3):
                patch = xi[:, kh : kh + s * (o - 1) + 1 : s, kw : kw + s * (o - 1) + 1 : s, :]
                y[..., i * cg : (i + 1) * cg] += patch @ w64[i * cg : (i + 1) * cg, kh, kw, :].T
    return y + b


def interpreter(model: bytes, delegates: bool) -> Interpreter:
    kind = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_content=model, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def median_ms(it: Interpreter, invokes: int) -> float:
    times = []
    for _ in range(invokes):
        t = time.perf_counter_ns()
        it.invoke()
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times)) / 1e6


def measure(block: Block, invokes: int, rounds: int, delegates: bool) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    c, cg = block.channels, block.channels // block.groups
    w = rng.standard_normal((c, 3, 3, cg)).astype(np.float32) / np.sqrt(9 * cg)
    b = rng.standard_normal(c).astype(np.float32)
    x = rng.standard_normal((1, block.size + 2, block.size + 2, c)).astype(np.float32)
    expected = reference(block, x, w, b)
    its = {}
    for form in ("native", "split"):
        it = interpreter(build(block, form == "native", w, b), delegates)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        err = float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))
        if err > 1e-5:
            raise SystemExit(f"{block.name} {form}: relative error {err:.2e}")
        for _ in range(10):
            it.invoke()
        its[form] = it
    times: dict[str, list[float]] = {"native": [], "split": []}
    for _ in range(rounds):
        for form in ("native", "split"):  # interleaved: drifts in machine load hit both
            times[form].append(median_ms(its[form], invokes))
    native, split = float(np.median(times["native"])), float(np.median(times["split"]))
    return native, split, split / native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="also time without delegates")
    args = parser.parse_args()
    modes = [True, False] if args.reference else [True]
    for delegates in modes:
        title = "XNNPACK" if delegates else "no delegate (LiteRT kernels)"
        print(f"{title}, 1 thread, median of {args.invokes} invokes x {args.rounds} rounds")
        print(
            f"{'block':<22} {'C':>5} {'groups':>6} {'HxW':>7} {'native ms':>10} {'split ms':>10} {'split/native':>12}"
        )
        for block in BLOCKS:
            native, split, ratio = measure(block, args.invokes, args.rounds, delegates)
            hw = f"{block.size}x{block.size}" + ("/2" if block.stride == 2 else "")
            print(
                f"{block.name:<22} {block.channels:>5} {block.groups:>6} {hw:>7} "
                f"{native:>10.3f} {split:>10.3f} {ratio:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
