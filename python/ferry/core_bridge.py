"""Hands a Python trace to the C++ core and reads the TF-level graph back.

Everything here is translation: which calls convert, how, and in which channel order is
decided in the core.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ferry import _core, complex_values, inplace
from ferry.converters import (
    ConverterNotUsedWarning,
    UserConverter,
    find_user_converter,
    registered_name,
    unmatched_converters,
)
from ferry.fold import FOLDED_OP, folded_calls
from ferry.free_args import free_getitem, free_size_args
from ferry.tfgraph import TfGraph, TfNode, TfValue
from ferry.trace import symbolic
from ferry.trace.control_flow import (
    COND_OP,
    IF_OP,
    WHILE_OP,
    BranchBodies,
    LoopBodies,
)
from ferry.trace.model import NodeKind, TensorRef, Trace, TraceNode, ValueKind

_DTYPE_NAMES = {
    torch.float32: "float32",
    torch.float64: "float64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int16: "int16",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}


def dtype_name(dtype: torch.dtype) -> str:
    try:
        return _DTYPE_NAMES[dtype]
    except KeyError:
        raise TypeError(f"ferry: tensors of dtype {dtype} are not supported") from None


@dataclass
class TfliteRequest:
    """What the core's TFLite writer is asked for (see docs/tflite.md)."""

    path: str | None = None  # stream the file there; else the bytes come back in memory
    float16: bool = False  # float32 weights stored as float16 (+ DEQUANTIZE)
    int8_weights: bool = False  # conv/dense kernels INT8 per channel, run by hybrid kernels
    keep_float: list[str] = field(default_factory=list)  # module paths / ops kept float32
    placement: str = "auto"  # "auto" | "inline" | "external": where the weights' bytes go
    recurrent: str = ""  # "sequence" | "unrolled": how LSTM layers are written; "" = default
    recurrent_chosen: bool = True  # by the user: a form that changes nothing then says so
    # Full integer (quantize="int8"): the float file's tensor count and the (tensor, low,
    # high) ranges observed on it; -1 = not asked for.
    int8_tensors: int = -1
    int8_ranges: list[tuple[int, float, float]] = field(default_factory=list)
    io_dtype: str = "float32"  # "float32" | "int8" | "uint8": an int8 model's boundary
    int16: bool = False  # quantize="int16x8": the activations INT16 instead
    # An imported quantized model's own scales, by the float file's tensor index:
    # (tensor, scale, zero point) for computed tensors, (tensor, per-channel scales) for kernels.
    int8_fixed: list[tuple[int, float, int]] = field(default_factory=list)
    kernel_scales: list[tuple[int, list[float]]] = field(default_factory=list)
    model_scales_only: bool = False  # what the model leaves float stays float


@dataclass
class CoreResult:
    converted: list[int]
    unused: list[int]
    unsupported: list[tuple[int, str]]
    errors: list[tuple[int, str]]
    dumps: list[tuple[str, str]]
    transposes: tuple[int, int]  # (count, bytes per inference) in the final graph
    transposes_node_by_node: tuple[int, int]  # the same if order were decided node by node
    layout: dict[str, Any]  # solver statistics: variables, cost, exact, method
    seconds: list[tuple[str, float]]  # wall time of each core stage
    graph: TfGraph | None
    user_converters: dict[int, UserConverter] = field(default_factory=dict)
    tflite: bytes | None = None  # the .tflite file in memory (when no path was given)
    tflite_error: str = ""  # why the TFLite writer refused the graph
    tflite_size: int = 0  # bytes of the .tflite file (in memory or written)
    tflite_external: bool = False  # the large-model layout: weights after the flatbuffer
    tflite_tensors: dict[int, int] = field(default_factory=dict)  # graph value -> tensor
    tflite_constants: dict[int, int] = field(default_factory=dict)  # weight value -> tensor
    tflite_warnings: list[str] = field(default_factory=list)  # options the writer could not honour
    folded: list[int] = field(default_factory=list)  # calls computed from constants alone


def run_core(
    trace: Trace,
    *,
    disabled: list[str],
    input_orders: list[str],
    output_orders: list[str],
    keep_dumps: bool = False,
    tflite: TfliteRequest | None = None,
    identity_users: dict[int, str] | None = None,
) -> CoreResult:
    """`identity_users`: trace nodes whose user converter is an identity, and the core op
    (an order hint) each becomes instead (the `.tflite` path; see ferry.user_tflite)."""
    folded = folded_calls(trace)
    core_trace, core_users, core_to_trace, stands_for = _to_core(
        trace, identity_users or {}, set(folded)
    )
    request = tflite or TfliteRequest()
    raw = _core.convert(
        core_trace,
        disabled,
        input_orders,
        output_orders,
        keep_dumps,
        tflite is not None,
        request.path or "",
        request.float16,
        request.placement,
        request.recurrent,
        request.int8_weights,
        request.keep_float,
        request.int8_tensors,
        request.int8_ranges,
        request.io_dtype,
        request.recurrent_chosen,
        request.int16,
        request.int8_fixed,
        request.kernel_scales,
        request.model_scales_only,
    )
    graph = (
        _graph_from_core(raw["graph"], core_to_trace, stands_for)
        if raw["graph"] is not None
        else None
    )

    def ids(items: list[int]) -> list[int]:
        return list(dict.fromkeys(core_to_trace[i] for i in items))

    def problems(items) -> list[tuple[int, str]]:
        return [(core_to_trace[n] if n >= 0 else -1, m) for n, m in items]

    users = {core_to_trace[n]: u for n, u in core_users.items()}
    return CoreResult(
        converted=ids(raw["converted"]),
        unused=[n for n in ids(raw["unused"]) if n not in set(ids(raw["converted"]))],
        unsupported=problems(raw["unsupported"]),
        errors=problems(raw["errors"]),
        dumps=[tuple(d) for d in raw["dumps"]],
        transposes=tuple(raw["transposes"]),
        transposes_node_by_node=tuple(raw["transposes_node_by_node"]),
        layout=dict(raw["layout"]),
        seconds=[tuple(s) for s in raw["seconds"]],
        graph=graph,
        user_converters=users,
        tflite=bytes(raw["tflite"]) if "tflite" in raw else None,
        tflite_error=raw.get("tflite_error", ""),
        tflite_size=int(raw.get("tflite_size", 0)),
        tflite_external=bool(raw.get("tflite_external", False)),
        tflite_tensors=dict(raw.get("tflite_tensors", [])),
        tflite_constants=dict(raw.get("tflite_constants", [])),
        tflite_warnings=list(raw.get("tflite_warnings", [])),
        folded=folded,
    )


def _to_core(
    trace: Trace, identity_users: dict[int, str], folded: set[int], nested: bool = False
) -> tuple[Any, dict[int, UserConverter], list[int]]:
    """`nested`: the trace of a loop's condition or body, converted as part of a call."""
    complex_values.refuse_complex_boundary(trace)
    t = _core.Trace()
    for v in trace.values:
        t.add_value(
            v.id,
            _value_dtype(trace, v),
            complex_values.real_shape(v.dtype, v.shape),
            v.kind == ValueKind.INPUT,
            v.name,
            v.producer,
        )
        if v.kind == ValueKind.CONSTANT:
            t.set_constant(v.id, _constant_array(v.data))
    add_expr = symbolic.to_core(trace, t, lambda v: complex_values.real_shape(v.dtype, v.shape))
    users: dict[int, UserConverter] = {}
    modules = _ModuleRuleArgs(trace, t)
    # Write-backs of in-place calls on views go right after the writer's subtree; core node
    # ids are renumbered densely around them and mapped back through `core_to_trace`.
    pending: dict[int, list[inplace.ViewWrite]] = {}
    for write in inplace.view_writes(trace):
        pending.setdefault(inplace.last_descendant(trace, write.writer), []).append(write)
    core_id: dict[int, int] = {}
    core_to_trace: list[int] = []

    def add(
        trace_id: int, kind: str, op: str, scope: str, parent: int, args, outputs, user=None
    ) -> None:
        nid = len(core_to_trace)
        if kind != "synthetic":
            core_id[trace_id] = nid
        core_to_trace.append(trace_id)
        t.add_node(
            nid,
            "function" if kind == "synthetic" else kind,
            op,
            scope,
            core_id[parent] if parent >= 0 else -1,
            args,
            outputs,
            trace_id if user is not None else -1,  # the handle the back ends look up
            user.strategy.value if user is not None else "",
        )
        if kind != "synthetic" and trace.nodes[trace_id].sym_args:
            t.set_sym_args(nid, trace.nodes[trace_id].sym_args)

    matched: set[int] = set()
    for node in trace.nodes:
        user = find_user_converter(node.target) if node.kind != NodeKind.ATEN else None
        if user is not None:
            matched.add(id(user))
        op = node.op
        if _has_tensor_index(node):
            # Advanced indexing (`x[idx]`, `x[mask] = v`) converts through the aten calls beneath
            # (index.Tensor, index_put_), which carry the index's full structure.
            op = f"{op} (tensor index)"
        if node.id in identity_users:
            op, user = identity_users[node.id], None
        if user is None and _unrolled(node):
            op = f"{node.op} (unrolled)"  # no rule: the core converts the calls inside
        bodies = _bodies(node)
        if isinstance(bodies, LoopBodies):
            args = [
                _encode_arg("carried_inputs", node.args["carried_inputs"]),
                _encode_arg("captured", node.args["captured"]),
            ]
        elif isinstance(bodies, BranchBodies):
            op = IF_OP
            args = [_encode_arg(name, node.args[name]) for name in ("pred", "operands", "captured")]
        else:
            args = _encode_args(trace, node.op, node.args)
        if trace.symbols and node.op.endswith("__getitem__") and not _has_tensor_index(node):
            args += free_getitem(trace, node, add_expr)
        elif node.sym_values:
            args += free_size_args(node, add_expr)
        if user is None:
            op, extra = complex_values.core_op(trace, node, op)
            args += extra
        if user is None and node.kind == NodeKind.MODULE and _core.has_rule(op):
            args += modules.args(node)
        if node.id in folded:
            # The call becomes the values the trace recorded (ferry.fold); its insides stay in
            # the trace for the report, but the core converts the call as a whole.
            recorded = [modules.constant(trace.values[r.value]) for r in node.output_refs()]
            op, user, args = FOLDED_OP, None, [("recorded", recorded, False, None)]
        outputs = [ref.value for ref in node.output_refs()]
        if node.op.endswith("__setitem__"):
            outputs = inplace.setitem_output(trace, node)
        add(node.id, node.kind.value, op, node.scope, node.parent, args, outputs, user)
        if user is not None:
            users[len(core_to_trace) - 1] = user
        if bodies is not None and op in (WHILE_OP, IF_OP):
            for role, body in _roles(bodies):
                t.add_body(len(core_to_trace) - 1, role, _body_to_core(body, node, role))
        for write in pending.get(node.id, []):
            writer = trace.nodes[write.writer]
            add(
                write.writer,
                "synthetic",
                "ferry.view_write",
                writer.scope,
                writer.parent,
                write.args,
                [write.output],
            )
    if not nested:
        _warn_unmatched(trace, matched)
    t.inputs = list(trace.inputs)
    t.outputs = [ref.value for ref in trace.output_refs()]
    t.input_names = list(trace.input_names)
    t.output_names = list(trace.output_names)
    return t, users, core_to_trace, modules.stands_for


def _bodies(node: TraceNode) -> LoopBodies | BranchBodies | None:
    """The traced functions a control-flow call carries, if it is one."""
    bodies = node.args.get("bodies") if node.op in (WHILE_OP, COND_OP) else None
    return bodies if isinstance(bodies, (LoopBodies, BranchBodies)) else None


def _roles(bodies: LoopBodies | BranchBodies) -> list[tuple[str, Trace]]:
    if isinstance(bodies, LoopBodies):
        return [("cond", bodies.cond), ("body", bodies.body)]
    return [("then", bodies.then), ("else", bodies.otherwise)]


def _body_to_core(body: Trace, node: TraceNode, role: str) -> Any:
    core, users, _, _ = _to_core(body, {}, set(folded_calls(body)), nested=True)
    if users:
        what = {"cond": "condition of the while_loop", "body": "body of the while_loop"}.get(
            role, f"{role} branch of torch.cond"
        )
        where = f" ({node.invoked})" if node.invoked else ""
        raise NotImplementedError(
            f"ferry: the {what}{where} calls a function with a user converter; converters "
            "inside control flow are not supported yet"
        )
    return core


def _warn_unmatched(trace: Trace, matched: set[int]) -> None:
    traced: dict[str, str] = {}
    for node in trace.nodes:
        if node.kind != NodeKind.ATEN:
            traced.setdefault(node.op, str(node.invoked) if node.invoked else "?")
    for user, invoked in unmatched_converters(matched, traced):
        warnings.warn(
            ConverterNotUsedWarning(
                f"ferry: the converter at {user.location()} was not used: it is registered "
                f"for {user.op!r}, but the call of {registered_name(user.op)} invoked at "
                f"{invoked} is another object of the same name (a converter for a @traceable "
                "function must be given the decorated function; a class defined again after "
                "its converter was registered needs the converter registered again)"
            ),
            stacklevel=2,
        )


def _value_dtype(trace: Trace, value: Any) -> str:
    dtype = complex_values.part_dtype(value.dtype)  # complex values travel as their real view
    if dtype in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype]
    if value.producer >= 0:
        from ferry.report.tree import converter_site

        inner = trace.nodes[value.producer]
        node = trace.nodes[converter_site(trace, value.producer)]
        call = node.op if node is inner else f"{node.op} ({inner.op})"
        where = f" invoked at {node.invoked}" if node.invoked else ""
        source = f"{call}{where} makes"
    else:
        source = f"the model reads '{value.name}',"
    raise TypeError(
        f"ferry: {source} a tensor of dtype {value.dtype}, which Ferry does not support "
        f"(TensorFlow Lite has no such tensors); supported: {', '.join(_DTYPE_NAMES.values())}"
    )


def _unrolled(node: TraceNode) -> bool:
    """A module whose whole-module rule cannot express it, while the per-step calls PyTorch
    runs for it convert: an LSTM with projections (Keras' LSTM has none)."""
    return (
        node.kind == NodeKind.MODULE
        and isinstance(node.target, torch.nn.LSTM)
        and node.target.proj_size > 0
    )


class _ModuleRuleArgs:
    """What a core rule for a whole module (nn.GRU, ...) needs beyond the forward arguments.

    A module call records only its forward arguments; the rule also needs the module's
    parameters (constant tensor arguments named after them, in `named_parameters` order) and
    its simple attributes (hidden_size, batch_first, ...). A parameter the trace already holds
    keeps its value id; any other is appended to the core trace as a new constant."""

    def __init__(self, trace: Trace, core_trace: Any) -> None:
        self.core_trace = core_trace
        self.next_id = len(trace.values)
        self.stands_for: dict[int, int] = {}  # constant added for a folded call -> its value
        self.known: dict[tuple[Any, ...], int] | None = None
        self.trace = trace

    def args(self, node: TraceNode) -> list[tuple[str, list[int], bool, Any]]:
        module = node.target
        taken = {"input" if name == "self" else name for name in node.args}
        out = []
        # A forward argument wins over a parameter or attribute of the same name.
        for name, param in module.named_parameters(recurse=False):
            if name not in taken:
                full_name = f"{node.scope}.{name}" if node.scope else name
                out.append((name, [self._value_id(param, full_name)], False, None))
        for name, value in vars(module).items():
            if name.startswith("_") or name in taken or not _is_simple(value):
                continue
            out.append((name, [], False, list(value) if isinstance(value, tuple) else value))
        return out

    def constant(self, value: Any) -> int:
        """A new constant holding a recorded value (for calls that become constants)."""
        vid = self.next_id
        self.next_id += 1
        self.stands_for[vid] = value.id
        shape = complex_values.real_shape(value.dtype, value.shape)
        dtype = dtype_name(complex_values.part_dtype(value.dtype))
        self.core_trace.add_value(vid, dtype, shape, False, "", -1)
        self.core_trace.set_constant(vid, _constant_array(value.data))
        return vid

    def _value_id(self, param: torch.Tensor, name: str) -> int:
        if self.known is None:  # built on first use: most models have no module rule
            self.known = {
                _tensor_key(v.data): v.id for v in self.trace.values if v.kind == ValueKind.CONSTANT
            }
        key = _tensor_key(param)
        if key not in self.known:
            vid = self.next_id
            self.next_id += 1
            self.core_trace.add_value(
                vid, dtype_name(param.dtype), list(param.shape), False, name, -1
            )
            self.core_trace.set_constant(vid, _constant_array(param))
            self.known[key] = vid
        return self.known[key]


def _tensor_key(t: torch.Tensor) -> tuple[Any, ...]:
    # The trace holds detached aliases of parameters, not the Parameter objects: same storage.
    return (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))


def _is_simple(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, tuple) and all(isinstance(v, (bool, int, float)) for v in value)


def _constant_array(data: torch.Tensor) -> np.ndarray:
    data = complex_values.as_real(data.detach())
    if data.dtype == torch.bfloat16:
        data = data.float()  # NumPy has no bfloat16; the rules see float32 weights
    # .numpy() shares memory with the tensor: the core borrows the parameter, no copy. (Not
    # np.ascontiguousarray: it turns a 0-d scalar into shape [1].)
    return data.contiguous().numpy()


def _encode_args(
    trace: Trace, op: str, args: dict[str, Any]
) -> list[tuple[str, list[int], bool, Any]]:
    if op.endswith("__getitem__") and "index" in args:
        return _encode_getitem(trace, args)
    if op.endswith("__setitem__") and "index" in args:
        # x[index] = value: the region as for x[index], plus the value written.
        region = _encode_getitem(trace, {"input": args["input"], "index": args["index"]})
        return region + [_encode_arg("value", args.get("value"))]
    if op.startswith(("aten.index_put", "aten._index_put_impl")):
        args = _masked_values(trace, args)
    # Rules name the tensor a method or aten op works on "input", as torch functions do.
    out = [_encode_arg("input" if name == "self" else name, value) for name, value in args.items()]
    for name, value in args.items():
        if (
            isinstance(value, list)
            and None in value
            and any(isinstance(v, TensorRef) for v in value)
        ):
            # aten.index's `indices` skips dims with None: say where each tensor stands.
            positions = [i for i, v in enumerate(value) if isinstance(v, TensorRef)]
            out.append((f"{name}_positions", [], False, positions))
    return out


def _masked_values(trace: Trace, args: dict[str, Any]) -> dict[str, Any]:
    """`x[mask] = y[mask]`: the values are y read through the same mask, which has a
    data-dependent shape on its own; the write needs only y (`values_masked`)."""
    indices, values = args.get("indices"), args.get("values")
    if not (
        isinstance(indices, list)
        and len(indices) == 1
        and isinstance(indices[0], TensorRef)
        and isinstance(values, TensorRef)
        and trace.values[indices[0].value].dtype == torch.bool
    ):
        return args
    producer = trace.values[values.value].producer
    node = trace.nodes[producer] if producer >= 0 else None
    read = node.args.get("indices") if node is not None else None
    source = node.args.get("self") if node is not None else None
    if (
        node is not None
        and node.op == "aten.index.Tensor"
        and isinstance(read, list)
        and len(read) == 1
        and isinstance(read[0], TensorRef)
        and read[0].value == indices[0].value
        and isinstance(source, TensorRef)
        and trace.values[source.value].shape == trace.values[args["self"].value].shape
    ):
        return {**args, "values": source, "values_masked": True}
    return args


def _has_tensor_index(node: TraceNode) -> bool:
    index = node.args.get("index") if node.op.endswith(("__getitem__", "__setitem__")) else None
    return isinstance(index, tuple) and any(isinstance(i, TensorRef) for i in index)


def _encode_arg(name: str, value: Any) -> tuple[str, list[int], bool, Any]:
    if isinstance(value, TensorRef):
        return (name, [value.value], False, None)
    if isinstance(value, (list, tuple)) and any(isinstance(v, TensorRef) for v in value):
        return (name, [v.value for v in value if isinstance(v, TensorRef)], True, None)
    return (name, [], False, _encode_constant(value))


def _encode_constant(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return _DTYPE_NAMES.get(value, str(value))
    if isinstance(value, (list, tuple, torch.Size)):
        items = [_encode_constant(v) for v in value]
        if all(isinstance(v, (bool, int, float)) for v in items) or all(
            isinstance(v, str) for v in items
        ):
            return items
        return str(value)
    return str(value)


def _encode_getitem(trace: Trace, args: dict[str, Any]) -> list[tuple[str, list[int], bool, Any]]:
    """Normalises a basic index into full-rank begin/end/step plus the dims an int removes."""
    src = args["input"]
    shape = trace.values[src.value].shape
    index = args["index"]
    if not isinstance(index, tuple):
        index = (index,)
    tensor_refs = [i.value for i in index if isinstance(i, TensorRef)]
    if tensor_refs:
        return [("input", [src.value], False, None), ("index", tensor_refs, True, None)]
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    expanded: list[Any] = []
    for item in index:
        if item is Ellipsis:
            expanded.extend([slice(None)] * (len(shape) - consumed))
        else:
            expanded.append(item)
    dims = [i for i in expanded if i is not None]
    dims.extend([slice(None)] * (len(shape) - len(dims)))
    begin, end, step, squeeze = [], [], [], []
    for d, (item, size) in enumerate(zip(dims, shape)):
        if isinstance(item, slice):
            b, e, s = item.indices(size)
            e = max(e, b)  # an empty selection stays empty, never negative
            begin.append(b)
            end.append(e)
            step.append(s)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = int(item) + size if item < 0 else int(item)
            begin.append(i)
            end.append(i + 1)
            step.append(1)
            squeeze.append(d)
        else:
            raise TypeError(f"ferry: unsupported index element {item!r} in x[...]")
    return [
        ("input", [src.value], False, None),
        ("begin", [], False, begin),
        ("end", [], False, end),
        ("step", [], False, step),
        ("squeeze_dims", [], False, squeeze),
    ]


def _graph_from_core(
    raw: dict[str, Any], core_to_trace: list[int], stands_for: dict[int, int] | None = None
) -> TfGraph:
    """`stands_for`: constants the core trace added for folded calls -> the traced value each
    holds, so that a value made from one names that traced value as its origin."""
    stands_for = stands_for or {}
    values = {}
    for vid, dtype, shape, perm, constant, name, origin, is_constant, free in raw["values"]:
        values[vid] = TfValue(
            vid,
            dtype,
            list(shape),
            list(perm),
            constant,
            name,
            stands_for.get(origin, origin),
            is_constant and constant is None,
            list(free),
        )
    nodes = [
        TfNode(
            nid,
            op,
            list(inputs),
            list(outputs),
            dict(attrs),
            scope,
            core_to_trace[origin] if origin >= 0 and core_to_trace else -1,
            # A body's nodes come from its own trace: they are checked as part of the node.
            {role: _graph_from_core(body, []) for role, body in bodies},
        )
        for nid, op, inputs, outputs, attrs, scope, origin, bodies in raw["nodes"]
    ]
    return TfGraph(
        values=values,
        nodes=nodes,
        inputs=list(raw["inputs"]),
        outputs=list(raw["outputs"]),
        input_names=list(raw["input_names"]),
        output_names=list(raw["output_names"]),
    )


def rules() -> list[tuple[str, str]]:
    """Every op name with a built-in rule, and what it becomes."""
    return list(_core.rules())
