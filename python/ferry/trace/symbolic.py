"""Symbolic sizes: which dimension of every traced value follows which free input dimension.

The model is traced a second time on fake tensors (no data, no arithmetic) whose free
dimensions are symbols of a `ShapeEnv`, so PyTorch's own shape functions derive every size as
an expression over those symbols. That trace must have the structure of the real one (same
calls, same values); each real value then gets its dims: an int where the size is fixed, a
`DimExpr` where it follows a symbol (its traced size is the hint).

Python code that branches on a symbolic size, or a call that pins a free dimension to its
traced size (`x.view(2, -1)` with a free batch), would make the converted model wrong at other
sizes: both are errors naming the user's line.
"""

from __future__ import annotations

import contextlib
import math
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sympy
import torch

from .model import Trace, TraceNode, TraceValue

_TORCH_DIR = os.path.dirname(torch.__file__)
_FERRY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SYMPY_DIR = os.path.dirname(sympy.__file__)


@dataclass(frozen=True)
class Symbol:
    """A free dimension: its name, where it is read from (the first input and dim declared
    with it) and its traced size."""

    name: str
    input: int
    dim: int
    hint: int


@dataclass(frozen=True)
class DimExpr:
    """A size as an expression over symbols. `op` is "sym" (args: the symbol's index), or one
    of add, mul, floordiv, mod, max, min over args that are DimExprs or ints."""

    op: str
    args: tuple[Any, ...]

    def evaluate(self, values: Sequence[int]) -> int:
        if self.op == "sym":
            return values[self.args[0]]
        items = [a.evaluate(values) if isinstance(a, DimExpr) else a for a in self.args]
        return _APPLY[self.op](items)

    def render(self, names: Sequence[str]) -> str:
        if self.op == "sym":
            return names[self.args[0]]
        parts = [a.render(names) if isinstance(a, DimExpr) else str(a) for a in self.args]
        infix = {"add": " + ", "mul": "*", "floordiv": "//", "mod": " % "}
        if self.op in infix:
            return "(" + infix[self.op].join(parts) + ")"
        return f"{self.op}({', '.join(parts)})"


def _product(items: list[int]) -> int:
    result = 1
    for item in items:
        result *= item
    return result


_APPLY: dict[str, Callable[[list[int]], int]] = {
    "add": sum,
    "mul": _product,
    "floordiv": lambda items: items[0] // items[1],
    "mod": lambda items: items[0] % items[1],
    "max": max,
    "min": min,
}

Dim = int | DimExpr


class SymbolicShapeError(ValueError):
    """The model's sizes cannot be left free as asked."""


def free_dims_from_input_shapes(
    input_shapes: dict[Any, Sequence[int | None]] | None,
    dynamic_dims: dict[Any, dict[int, str]] | None,
    inputs: list[torch.Tensor],
    names: list[str],
) -> dict[int, dict[int, str]]:
    """Free dims per input index from nobuco's `input_shapes` (None marks a free dim, each
    its own symbol) and Ferry's `dynamic_dims` (named symbols; one name shared by several
    dims makes them one symbol). Keys are input tensors or input names."""

    def index_of(key: Any, what: str) -> int:
        if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(inputs):
            return key
        for i, (tensor, name) in enumerate(zip(inputs, names)):
            if key is tensor or (isinstance(key, str) and key == name):
                return i
        known = ", ".join(repr(n) for n in names)
        raise ValueError(
            f"ferry: {what} names {key!r}, which is not one of the model's inputs "
            f"(give an input tensor, its index, or one of {known})"
        )

    free: dict[int, dict[int, str]] = {}
    for key, shape in (input_shapes or {}).items():
        i = index_of(key, "input_shapes")
        actual = tuple(inputs[i].shape)
        if len(shape) != len(actual) or any(
            d is not None and d != a for d, a in zip(shape, actual)
        ):
            raise ValueError(
                f"ferry: input_shapes gives {tuple(shape)} for input '{names[i]}' of shape {actual}"
            )
        for d, size in enumerate(shape):
            if size is None:
                free.setdefault(i, {})[d] = f"{names[i]}_dim{d}"
    for key, dims in (dynamic_dims or {}).items():
        i = index_of(key, "dynamic_dims")
        rank = inputs[i].dim()
        for d, symbol in dims.items():
            if not isinstance(d, int) or not -rank <= d < rank:
                raise ValueError(
                    f"ferry: dynamic_dims gives dim {d!r} for input '{names[i]}' of rank {rank}"
                )
            if not isinstance(symbol, str) or not symbol.isidentifier():
                raise ValueError(
                    f"ferry: dynamic_dims names dim {d} of '{names[i]}' {symbol!r}; "
                    "use a name like 'batch'"
                )
            free.setdefault(i, {})[d % rank] = symbol
    return free


class _LocatedGuards(list):
    """The ShapeEnv's guard list, remembering the user's line that added each guard."""

    def __init__(self, items: Sequence[Any]) -> None:
        super().__init__(items)
        self.where: list[traceback.FrameSummary | None] = [None] * len(items)

    def append(self, guard: Any) -> None:
        super().append(guard)
        self.where.append(_user_frame())


def _user_frame() -> traceback.FrameSummary | None:
    for frame in reversed(traceback.extract_stack()):
        path = os.path.abspath(frame.filename)
        if not path.startswith((_TORCH_DIR, _FERRY_DIR, _SYMPY_DIR)) and "<frozen" not in path:
            return frame
    return None


def trace_symbolic(
    trace_fn: Callable[[Sequence[Any], dict[str, Any]], Trace],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    inputs: list[torch.Tensor],
    names: list[str],
    free: dict[int, dict[int, str]],
    real: Trace,
) -> tuple[list[Symbol], dict[int, tuple[Dim, ...]]]:
    """Traces again with the free dims symbolic; returns the symbols and, for every value
    with a symbolic dim, its dims."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    # No duck sizing: two dims that happen to share a traced size are not thereby one symbol.
    env = ShapeEnv(duck_shape=False)
    guards = _LocatedGuards(env.guards)
    env.guards = guards
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)

    symbols: list[Symbol] = []
    by_name: dict[str, int] = {}
    sympy_symbols: dict[sympy.Symbol, int] = {}
    sym_ints: dict[str, Any] = {}
    from torch._dynamo.source import LocalSource

    for i in sorted(free):
        for d in sorted(free[i]):
            name = free[i][d]
            hint = int(inputs[i].shape[d])
            if name in by_name:
                first = symbols[by_name[name]]
                if first.hint != hint:
                    raise SymbolicShapeError(
                        f"ferry: dynamic dim '{name}' is {first.hint} in input "
                        f"'{names[first.input]}' but {hint} in dim {d} of '{names[i]}'; "
                        "dims that share a name must have the same size in the example inputs"
                    )
                continue
            if hint < 1:
                raise SymbolicShapeError(
                    f"ferry: dim {d} of input '{names[i]}' is declared free but is empty in "
                    "the example input; trace with a size of 1 or more"
                )
            by_name[name] = len(symbols)
            symbols.append(Symbol(name, i, d, hint))
            # PyTorch treats a size of 1 as a constant (broadcasting, contiguity), so a dim
            # traced at 1 (a batch of one, as in nobuco's examples) is followed at 2; the two
            # traces must still agree, checked below against the real sizes.
            expr = env.create_symbol(max(hint, 2), LocalSource(f"ferry_{name}"))
            sympy_symbols[expr] = len(symbols) - 1
            sym_ints[name] = env.create_symintnode(expr, hint=max(hint, 2))

    fakes: dict[int, torch.Tensor] = {}
    with mode:
        for i, tensor in enumerate(inputs):
            sizes = [
                sym_ints[free[i][d]] if d in free.get(i, {}) else int(s)
                for d, s in enumerate(tensor.shape)
            ]
            fakes[id(tensor)] = torch.empty(sizes, dtype=tensor.dtype)

    from .structures import map_tensors

    fake_args, fake_kwargs = map_tensors((args, kwargs), lambda t: fakes.get(id(t), t))
    try:
        with (
            mode,
            torch.no_grad(),
            _upsampling_on_symbolic_sizes(),
            _stand_ins_on_symbolic_sizes(),
        ):
            symbolic = trace_fn(fake_args, fake_kwargs)
    except SymbolicShapeError:
        raise
    except Exception as error:  # PyTorch cannot run some op on symbolic sizes
        frames = [
            f
            for f in traceback.extract_tb(error.__traceback__)
            if not os.path.abspath(f.filename).startswith((_TORCH_DIR, _FERRY_DIR, _SYMPY_DIR))
        ]
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SymbolicShapeError(
            f"ferry: the model cannot run on free sizes{where}: PyTorch says '{first}'"
        ) from None

    _check_guards(env, guards, symbols, sympy_symbols, names)
    calls = _pair_calls(real, symbolic)

    convert = _Converter(env, sympy_symbols, symbols)
    for node, twin_node in calls:
        held = {
            _real_name(name, node): arg
            for name, arg in twin_node.args.items()
            if _holds_free_size(arg, convert)
        }
        node.sym_args = list(held)
        node.sym_values = {name: _sizes_of(arg, convert) for name, arg in held.items()}
    dims: dict[int, tuple[Dim, ...]] = {}
    for value, twin in _pair_values(real, symbolic, calls):
        shape = tuple(convert.dim(s) for s in twin.shape)
        if all(isinstance(d, int) for d in shape):
            if shape != tuple(value.shape):
                raise SymbolicShapeError(
                    f"ferry: value {value.id} has shape {tuple(value.shape)} when traced but "
                    f"{shape} with free dims"
                )
            continue
        hints = [s.hint for s in symbols]
        evaluated = tuple(d.evaluate(hints) if isinstance(d, DimExpr) else d for d in shape)
        if evaluated != tuple(value.shape):
            raise SymbolicShapeError(
                f"ferry: value {value.id}'s symbolic shape evaluates to {evaluated} at the "
                f"traced sizes, but it was {tuple(value.shape)}"
            )
        dims[value.id] = shape
    return symbols, dims


# F.interpolate's upsampling cannot run on a symbolic output size in PyTorch: the `.vec`
# overloads it calls want concrete ints in C++, and the fake-tensor decomposition of the
# overloads beneath them fails in its indexing. While sizes are traced, the functions call
# those overloads (the aten calls the real trace records), and fake tensors take only the
# output's shape from them, which is all this trace is for.
_UPSAMPLING = {
    "upsample_nearest1d": False,
    "upsample_nearest2d": False,
    "upsample_nearest3d": False,
    "_upsample_nearest_exact1d": False,
    "_upsample_nearest_exact2d": False,
    "_upsample_nearest_exact3d": False,
    "upsample_linear1d": True,
    "upsample_bilinear2d": True,
    "upsample_bicubic2d": True,
    "upsample_trilinear3d": True,
    "_upsample_bilinear2d_aa": True,
    "_upsample_bicubic2d_aa": True,
}


def _upsampled_shape_only(input: torch.Tensor, output_size: Sequence[Any], *_: Any) -> Any:
    return input.new_empty((*input.shape[:2], *output_size))


@contextlib.contextmanager
def _upsampling_on_symbolic_sizes() -> Iterator[None]:
    from torch._decomp import decomposition_table

    namespace = torch._C._nn
    names = [n for n in _UPSAMPLING if hasattr(namespace, n) and hasattr(torch.ops.aten, n)]
    functions = {name: getattr(namespace, name) for name in names}
    overloads = [getattr(torch.ops.aten, name).default for name in names]
    decompositions = {op: decomposition_table.get(op) for op in overloads}

    def calling_overload(name: str) -> Callable[..., Any]:
        original, overload = functions[name], getattr(torch.ops.aten, name).default

        def call(input: Any, output_size: Any, *rest: Any) -> Any:
            if torch.overrides.has_torch_function((input,)):
                # Ferry's recorder sees the call under the original's name, as when traced.
                return torch.overrides.handle_torch_function(
                    call, (input,), input, output_size, *rest
                )
            factors = rest[-1] if rest else None
            if output_size is None and factors is not None:
                # From scale factors, as ATen computes it: floor(size * scale).
                output_size = []
                for s, f in zip(input.shape[2:], factors):
                    if isinstance(s, torch.SymInt) and not float(f).is_integer():
                        frame = _user_frame()
                        where = f" at {frame.filename}:{frame.lineno}" if frame else ""
                        raise SymbolicShapeError(
                            f"ferry: interpolate{where} scales a free size by {f}, a "
                            "scale_factor that is not a whole number; give whole-number "
                            "factors, or size=, or make the image size static"
                        )
                    output_size.append(
                        s * int(f) if isinstance(s, torch.SymInt) else math.floor(s * f)
                    )
            # A free batch alone is enough: PyTorch's own reads every size of the input.
            sizes = [*input.shape, *(output_size or [])]
            if output_size is None or not any(isinstance(s, torch.SymInt) for s in sizes):
                return original(input, output_size, *rest)
            scales = list(factors) if factors is not None else [None] * len(output_size)
            if _UPSAMPLING[name]:  # takes align_corners
                return overload(input, output_size, rest[0], *scales)
            return overload(input, output_size, *scales)

        call.__module__, call.__name__, call.__qualname__ = "torch._C._nn", name, name
        return call

    try:
        for name in names:
            setattr(namespace, name, calling_overload(name))
        for op in overloads:
            decomposition_table[op] = _upsampled_shape_only
        yield
    finally:
        for name, original in functions.items():
            setattr(namespace, name, original)
        for op, decomposition in decompositions.items():
            if decomposition is None:
                decomposition_table.pop(op, None)
            else:
                decomposition_table[op] = decomposition


def _constant_pad_on_symbolic_sizes() -> Callable[..., Any]:
    """A stand-in for torch._C._nn.pad (what F.pad calls): PyTorch's constant_pad_nd reads
    concrete sizes and would pin every free dim to its traced value. Non-negative constant
    padding is a filled tensor with the input written into it, which runs on symbolic sizes;
    anything else is PyTorch's own."""
    original = torch._C._nn.pad

    def call(input: Any, pad: Any, mode: str = "constant", value: Any = None) -> Any:
        if torch.overrides.has_torch_function((input,)):
            return torch.overrides.handle_torch_function(call, (input,), input, pad, mode, value)
        symbolic = any(isinstance(s, torch.SymInt) for s in input.shape)
        if not symbolic or mode != "constant" or any(int(p) < 0 for p in pad):
            return original(input, pad, mode, value)
        sizes = list(input.shape)
        region: list[slice] = [slice(None)] * len(sizes)
        for i in range(len(pad) // 2):
            d = len(sizes) - 1 - i
            before, after = int(pad[2 * i]), int(pad[2 * i + 1])
            region[d] = slice(before, before + sizes[d])
            sizes[d] = sizes[d] + before + after
        out = input.new_full(sizes, 0 if value is None else value)
        out[tuple(region)] = input
        return out

    call.__module__, call.__name__, call.__qualname__ = "torch._C._nn", "pad", "pad"
    return call


def _recurrent_shapes_only(name: str) -> Callable[..., Any]:
    """A stand-in for torch.lstm / gru / rnn_* (what nn.LSTM etc. call) that, on symbolic
    sizes, gives only the shapes of its outputs: PyTorch's own cannot run on them (it counts
    elements), and Ferry converts these layers whole."""
    original = getattr(torch._C._VariableFunctions, name)

    def call(input: Any, *rest: Any) -> Any:
        if torch.overrides.has_torch_function((input,)):
            return torch.overrides.handle_torch_function(call, (input,), input, *rest)
        symbolic = any(isinstance(s, torch.SymInt) for s in input.shape)
        if not symbolic or not isinstance(rest[0], (list, tuple, torch.Tensor)) or len(rest) != 8:
            return original(input, *rest)  # packed sequences and fixed sizes: PyTorch's own
        hx, _, _, _, _, _, bidirectional, batch_first = rest
        states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
        width = states[0].shape[-1] * (2 if bidirectional else 1)
        steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
        # Time-major inside, as PyTorch's kernel: a batch-first output is its transpose (the
        # strides matter: later calls take other paths on non-contiguous tensors).
        output = input.new_empty((steps, batch, width))
        output = output.transpose(0, 1) if batch_first else output
        outputs = [output] + [h.new_empty(h.shape) for h in states]
        return tuple(outputs)

    call.__module__, call.__name__, call.__qualname__ = "torch", name, name
    return call


@contextlib.contextmanager
def _stand_ins_on_symbolic_sizes() -> Iterator[None]:
    """Recurrent layers and constant padding, which PyTorch cannot run on symbolic sizes."""
    names = ("lstm", "gru", "rnn_tanh", "rnn_relu")
    pad = torch._C._nn.pad
    try:
        for name in names:
            setattr(torch._VF, name, _recurrent_shapes_only(name))
        torch._C._nn.pad = _constant_pad_on_symbolic_sizes()
        yield
    finally:
        for name in names:
            torch._VF.__dict__.pop(name, None)
        torch._C._nn.pad = pad


def to_core(
    trace: Trace, core_trace: Any, shape_of: Callable[[Any], tuple[int, ...]]
) -> Callable[[DimExpr], int]:
    """Hands the symbols, the size expressions and each value's free dims to the core;
    returns the function that adds one more expression (for arguments) and gives its index."""
    index: dict[DimExpr, int] = {}

    def add(expr: DimExpr) -> int:
        if expr not in index:
            if expr.op == "sym":
                operands = [(False, expr.args[0])]
            else:
                operands = [
                    (True, add(a)) if isinstance(a, DimExpr) else (False, int(a)) for a in expr.args
                ]
            index[expr] = core_trace.add_dim_expr(expr.op, operands)
        return index[expr]

    for symbol in trace.symbols:
        core_trace.add_symbol(symbol.name, symbol.input, symbol.dim, symbol.hint)
    for value in trace.values:
        if value.dims is None:
            continue
        sym = [add(d) if isinstance(d, DimExpr) else -1 for d in value.dims]
        sym += [-1] * (len(shape_of(value)) - len(sym))  # complex values' trailing [re, im]
        core_trace.set_sym(value.id, sym)
    return add


def _real_name(name: str, node: TraceNode) -> str:
    """The traced call's name for its twin's argument. A SymInt matches none of an overloaded
    function's signatures (torch.arange's), so the twin binds it positionally (`arg0`): it is
    the traced call's argument at that position."""
    if name in node.args or not (name.startswith("arg") and name[3:].isdigit()):
        return name
    names = list(node.args)
    position = int(name[3:])
    return names[position] if position < len(names) else name


def _sizes_of(arg: Any, convert: _Converter) -> Any:
    """The argument with every SymInt replaced by its size (an int or a DimExpr)."""
    if isinstance(arg, torch.SymInt):
        return convert.dim(arg)
    if isinstance(arg, slice):
        return slice(*(_sizes_of(a, convert) for a in (arg.start, arg.stop, arg.step)))
    if isinstance(arg, (list, tuple)):  # torch.Size included
        items = [_sizes_of(a, convert) for a in arg]
        return items if isinstance(arg, list) else tuple(items)
    if isinstance(arg, dict):
        return {k: _sizes_of(a, convert) for k, a in arg.items()}
    return arg


def _holds_free_size(arg: Any, convert: _Converter) -> bool:
    if isinstance(arg, torch.SymInt):
        return isinstance(convert.dim(arg), DimExpr)
    if isinstance(arg, slice):
        return any(_holds_free_size(a, convert) for a in (arg.start, arg.stop, arg.step))
    if isinstance(arg, (list, tuple)):  # torch.Size included
        return any(_holds_free_size(a, convert) for a in arg)
    if isinstance(arg, dict):
        return any(_holds_free_size(a, convert) for a in arg.values())
    return False


def _check_guards(
    env: Any,
    guards: _LocatedGuards,
    symbols: list[Symbol],
    sympy_symbols: dict[Any, int],
    names: list[str],
) -> None:
    """Control flow on a free size, and calls that pin one, are errors at the user's line."""
    for guard in guards:
        framework = guard.sloc.framework_loc
        path = os.path.abspath(getattr(framework, "filename", "") or "")
        in_user_code = framework is not None and not path.startswith((_TORCH_DIR, _FERRY_DIR))
        if in_user_code:
            line = f"{framework.filename}:{framework.lineno}"
            raise SymbolicShapeError(
                f"ferry: {line}: Python code branches on a free size ({_plain(guard.expr, sympy_symbols, symbols)}); "
                "the converted model would take this branch at every size. Use torch.cond for "
                "a branch that must follow the size, or make that dim static"
            )
    for expr, index in sympy_symbols.items():
        replaced = env.replacements.get(expr)
        if replaced is not None and not replaced.free_symbols:
            symbol = symbols[index]
            where = _pinning_line(guards, expr)
            raise SymbolicShapeError(
                f"ferry: dim {symbol.dim} of input '{names[symbol.input]}' is declared free "
                f"('{symbol.name}'), but the model fixes it to {int(replaced)}"
                + (f" at {where}" if where else "")
                + "; compute the size from the tensor (x.shape[0], or -1 in view/reshape)"
            )


def _pinning_line(guards: _LocatedGuards, expr: Any) -> str:
    for guard, where in zip(guards, guards.where):
        if expr in guard.expr.free_symbols and isinstance(guard.expr, sympy.Eq) and where:
            return f"{where.filename}:{where.lineno}"
    return ""


def _plain(expr: Any, sympy_symbols: dict[Any, int], symbols: list[Symbol]) -> str:
    return str(expr.subs({s: sympy.Symbol(symbols[i].name) for s, i in sympy_symbols.items()}))


# Calls that PyTorch cannot run on symbolic sizes and that Ferry converts whole: while sizes
# are traced a stand-in gives their outputs' shapes (`_stand_ins_on_symbolic_sizes`), so
# their insides are not compared with the traced run's, only the calls and their outputs.
_OPAQUE = frozenset({"torch.lstm", "torch.gru", "torch.rnn_tanh", "torch.rnn_relu"})


def _pair_calls(real: Trace, symbolic: Trace) -> list[tuple[TraceNode, TraceNode]]:
    """The traced calls paired with their twins on symbolic sizes; raises when the model made
    other calls (its structure depends on the input size)."""

    def mismatch(a: TraceNode | None, b: TraceNode | None) -> SymbolicShapeError:
        if a is not None and b is not None:
            return SymbolicShapeError(
                f"ferry: with free sizes the model called {b.op} where the traced run called "
                f"{a.op} ({a.invoked}); its structure depends on the input size"
            )
        first = a or b
        where = f" (first at {first.op}, {first.invoked})" if first is not None else ""
        return SymbolicShapeError(
            "ferry: with free sizes the model made different calls than when traced"
            + where
            + "; its structure depends on the input size"
        )

    from ferry import _core

    def pair(ids: list[int], twin_ids: list[int]) -> list[tuple[TraceNode, TraceNode]]:
        pairs: list[tuple[TraceNode, TraceNode]] = []
        for k in range(max(len(ids), len(twin_ids))):
            if k >= len(ids) or k >= len(twin_ids):
                a = real.nodes[ids[k]] if k < len(ids) else None
                b = symbolic.nodes[twin_ids[k]] if k < len(twin_ids) else None
                raise mismatch(a, b)
            a, b = real.nodes[ids[k]], symbolic.nodes[twin_ids[k]]
            if a.op != b.op:
                raise mismatch(a, b)
            pairs.append((a, b))
            if a.op in _OPAQUE:
                continue
            try:
                pairs += pair(list(a.children), list(b.children))
            except SymbolicShapeError:
                # PyTorch may decompose a call differently on symbolic sizes (`x[None, :]`
                # slices what it skips at a known size); a call Ferry converts whole does not
                # need its insides, only its own outputs.
                if not _core.has_rule(a.op):
                    raise
        return pairs

    return sorted(pair(list(real.roots), list(symbolic.roots)), key=lambda p: p[0].id)


def _pair_values(
    real: Trace, symbolic: Trace, calls: list[tuple[TraceNode, TraceNode]]
) -> list[tuple[TraceValue, TraceValue]]:
    """Inputs, and every paired call's outputs and in-place results, with their twins."""
    pairs = list(zip(real.inputs, symbolic.inputs))
    for a, b in calls:
        outputs, twins = a.output_refs(), b.output_refs()
        if len(outputs) != len(twins) or len(a.mutated) != len(b.mutated):
            raise SymbolicShapeError(
                f"ferry: with free sizes {a.op} ({a.invoked}) returned other tensors than when "
                "traced; its structure depends on the input size"
            )
        pairs += [(r.value, t.value) for r, t in zip(outputs, twins)]
        pairs += list(zip(a.mutated, b.mutated))
    seen: set[int] = set()
    values = []
    for vid, twin in pairs:
        if vid not in seen:
            seen.add(vid)
            values.append((real.values[vid], symbolic.values[twin]))
    return values


class _Converter:
    """sympy expressions of the ShapeEnv -> DimExpr over Ferry's symbols."""

    def __init__(self, env: Any, sympy_symbols: dict[Any, int], symbols: list[Symbol]) -> None:
        from torch.utils._sympy import functions

        self.env = env
        self.sympy_symbols = sympy_symbols
        self.symbols = symbols
        self.floor_div = functions.FloorDiv
        self.mods = tuple(
            getattr(functions, name) for name in ("PythonMod", "Mod") if hasattr(functions, name)
        )
        self.maxes = (sympy.Max,) + tuple(
            getattr(functions, n) for n in ("Max",) if hasattr(functions, n)
        )
        self.mins = (sympy.Min,) + tuple(
            getattr(functions, n) for n in ("Min",) if hasattr(functions, n)
        )

    def dim(self, size: Any) -> Dim:
        if isinstance(size, int):
            return size
        expr = self.env.replace(size.node.expr)
        expr = self.env.simplify(expr)
        return self.expr(expr)

    def expr(self, e: Any) -> Dim:
        if e.is_Integer:
            return int(e)
        if e.is_Symbol:
            if e not in self.sympy_symbols:
                raise SymbolicShapeError(
                    f"ferry: a size depends on the data ({e}); Ferry only follows sizes "
                    "computed from the inputs' free dims"
                )
            return DimExpr("sym", (self.sympy_symbols[e],))
        args = tuple(self.expr(a) for a in e.args)
        if isinstance(e, sympy.Add):
            return _fold("add", args)
        if isinstance(e, sympy.Mul):
            return _fold("mul", args)
        if isinstance(e, self.floor_div):
            return _fold("floordiv", args)
        if isinstance(e, (*self.mods, sympy.Mod)):
            return _fold("mod", args)
        if isinstance(e, self.maxes):
            return _fold("max", args)
        if isinstance(e, self.mins):
            return _fold("min", args)
        raise SymbolicShapeError(
            f"ferry: Ferry cannot follow the size expression {e} ({type(e).__name__}) yet"
        )


def _fold(op: str, args: tuple[Dim, ...]) -> Dim:
    if all(isinstance(a, int) for a in args):
        return _APPLY[op](list(args))
    return DimExpr(op, args)
