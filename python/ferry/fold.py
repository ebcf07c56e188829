"""Calls computed from constants alone become constants.

A call whose tensor arguments are all constants (parameters, buffers, literals, or values of
other folded calls) computes the same value on every run, so the converted model only needs
the value the trace recorded: no rule is needed, whatever the op. This is what converts
weight standardization (`F.batch_norm(weight, None, None, training=True)` on a conv weight),
`weight_norm` and other parametrizations, position tables and masks built in `forward`.

The outermost such call is folded, so a module that works on constants alone is one
constant. Calls that make new random numbers on every run are never folded (PyTorch would
give other values next time), nor calls with a user converter (the user asked for theirs).
"""

from __future__ import annotations

import torch

from ferry.converters import find_user_converter
from ferry.trace.model import NodeKind, TensorRef, Trace, TraceNode, ValueKind

# The core op a folded call becomes: its outputs are its `recorded` arguments.
FOLDED_OP = "ferry.folded"

# Torch-level functions and methods that draw random numbers: seen before any aten op, so
# their aten tags cannot tell.
_RANDOM_NAMES = frozenset(
    {
        "rand",
        "rand_like",
        "randn",
        "randn_like",
        "randint",
        "randint_like",
        "randperm",
        "bernoulli",
        "bernoulli_",
        "multinomial",
        "normal",
        "normal_",
        "poisson",
        "uniform_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "random_",
        "dropout",
        "dropout_",
        "alpha_dropout",
        "feature_alpha_dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "rrelu",
        "rrelu_",
    }
)

# Shapes are static: a tensor made from another's shape and type alone is a constant too.
_SHAPE_ONLY_CALLS = frozenset(
    {
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty",
        "zeros_like",
        "ones_like",
        "full_like",
        "empty_like",
        "zero_",
    }
)
_SHAPE_ONLY_ATEN = frozenset(
    {
        "aten.empty.memory_format",
        "aten.empty_strided.default",
        "aten.empty_like.default",
        "aten.full_like.default",
        "aten.zeros_like.default",
        "aten.ones_like.default",
        "aten.new_zeros.default",
        "aten.new_ones.default",
        "aten.new_full.default",
        "aten.new_empty.default",
        "aten.fill.Scalar",
        "aten.fill_.Scalar",
        "aten.zero.default",
        "aten.zero_.default",
    }
)


def is_random(node: TraceNode) -> bool:
    """A call that may draw random numbers (dropout counts even in eval: its own rule decides)."""
    if node.kind == NodeKind.ATEN:
        return torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ())
    if node.kind == NodeKind.MODULE:
        return isinstance(node.target, torch.nn.modules.dropout._DropoutNd | torch.nn.RReLU)
    return node.op.rsplit(".", 1)[-1] in _RANDOM_NAMES


def folded_calls(trace: Trace) -> list[int]:
    """The outermost calls computed from constants alone, in call order."""
    constant = {v.id for v in trace.values if v.kind == ValueKind.CONSTANT}
    folded: list[int] = []

    def visit(nid: int) -> None:
        node = trace.nodes[nid]
        inputs = [r.value for r in node.input_refs()]
        outputs = [r.value for r in node.output_refs()]
        if _foldable(trace, node, inputs, outputs, constant):
            folded.append(nid)
            constant.update(outputs)
            for inner in _subtree(trace, node):
                # A tensor written in place is constant when it was before (a base written
                # through a view of it still holds the rest of its old value).
                constant.update(m for m in inner.mutated if trace.values[m].previous in constant)
            return
        for child in node.children:
            visit(child)

    for root in trace.roots:
        if trace.nodes[root].parent < 0 and trace.nodes[root].kind == NodeKind.MODULE:
            # The model itself is never folded: a model without inputs stays a model.
            for child in trace.nodes[root].children:
                visit(child)
        else:
            visit(root)
    return folded


def _foldable(
    trace: Trace, node: TraceNode, inputs: list[int], outputs: list[int], constant: set[int]
) -> bool:
    if outputs and all(o in inputs for o in outputs):
        return False  # it hands back its argument: nothing to fold
    if any(trace.values[o].dims is not None for o in outputs) or any(
        n.sym_args for n in _subtree(trace, node)
    ):
        return False  # its value follows a free size: the traced one holds for one size only
    # (A call without tensor results on constants, `w.item()` say, folds to nothing.)
    if not (shape_only(node) or all(i in constant for i in inputs)):
        return False
    # A write through a view inside the call reaches a tensor the folded value cannot
    # update; the call's own view writes are written back after it (ferry.inplace).
    return all(
        (n is node or not n.view_writes)
        and not is_random(n)
        and (n.kind == NodeKind.ATEN or find_user_converter(n.target) is None)
        for n in _subtree(trace, node)
    )


def shape_only(node: TraceNode) -> bool:
    """A call whose result depends on its tensor arguments' shapes and types, not values."""
    if node.kind == NodeKind.ATEN:
        return node.op in _SHAPE_ONLY_ATEN
    if node.kind != NodeKind.FUNCTION:
        return False
    name = node.op.rsplit(".", 1)[-1]
    # `fill_(0.5)` depends on the shape alone, `fill_(tensor)` on the tensor's value.
    return name in _SHAPE_ONLY_CALLS or (
        name == "fill_" and not isinstance(node.args.get("value"), TensorRef)
    )


def _subtree(trace: Trace, node: TraceNode):
    yield node
    for child in node.children:
        yield from _subtree(trace, trace.nodes[child])
