"""Reading a quantized `.tflite` file's operators and tensors (scales, zero points) for the
quantization tests."""

from __future__ import annotations

from dataclasses import dataclass

from ai_edge_litert import schema_py_generated as schema

NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


@dataclass
class Tensor:
    type: str
    shape: list[int]
    scales: list[float]
    zero_points: list[int]
    dimension: int
    constant: bool


@dataclass
class Op:
    name: str
    version: int
    inputs: list[int]
    outputs: list[int]


def read(data: bytes) -> tuple[list[Op], list[Tensor]]:
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    tensors = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        q = t.Quantization()
        scales = list(q.ScaleAsNumpy()) if q is not None and q.ScaleLength() else []
        zeros = list(q.ZeroPointAsNumpy()) if q is not None and q.ZeroPointLength() else []
        dim = q.QuantizedDimension() if q is not None else 0
        constant = model.Buffers(t.Buffer()).DataLength() > 0
        tensors.append(
            Tensor(TYPES[t.Type()], list(t.ShapeAsNumpy()), scales, zeros, dim, constant)
        )
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ops.append(Op(name, code.Version(), list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())))
    return ops, tensors
