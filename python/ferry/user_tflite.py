"""User converters on the direct `.tflite` path, which runs without TensorFlow.

A converter returns a TensorFlow callable: nothing Ferry's writer can run. One kind converts
all the same: a callable that hands back its one tensor argument (nobuco's
`force_tensorflow_order` pair, `lambda inputs: inputs`) is an identity with an order
constraint, which the core writes as such. Any other is refused before the conversion
starts, all of them in one error, with the way out.
"""

from __future__ import annotations

from typing import Any

import torch

from ferry.converters import ChannelOrderingStrategy, UserConverter, find_user_converter
from ferry.errors import ConversionError
from ferry.trace.model import NodeKind, Trace, TraceNode

# The core rule each strategy's identity becomes.
_IDENTITY_OPS = {
    ChannelOrderingStrategy.FORCE_TENSORFLOW_ORDER: "ferry.hints.force_tensorflow_order",
    ChannelOrderingStrategy.FORCE_PYTORCH_ORDER: "ferry.hints.force_pytorch_order",
    ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS: "ferry.identity",
    ChannelOrderingStrategy.MANUAL: "ferry.identity",
}


class _Stand:
    """Stands for a TF tensor: an identity callable hands it back."""


def user_converters_for_tflite(trace: Trace) -> dict[int, str]:
    """Trace node id -> the core op its identity converter becomes. Raises ConversionError
    naming every other user converter the model would use."""
    identities: dict[int, str] = {}
    refused: list[str] = []

    def visit(nid: int) -> None:
        node = trace.nodes[nid]
        user = find_user_converter(node.target) if node.kind != NodeKind.ATEN else None
        if user is None:
            for child in node.children:
                visit(child)
            return
        if _is_identity(user, node):
            identities[nid] = _IDENTITY_OPS[user.strategy]
        else:
            where = f" invoked at {node.invoked}" if node.invoked else ""
            refused.append(f"  {node.op}{where}: converter at {user.location()}")

    for root in trace.roots:
        visit(root)
    if refused:
        raise ConversionError(
            "ferry: a .tflite file is written without TensorFlow, so it cannot run the "
            "TensorFlow callables these user converters return:\n"
            + "\n".join(refused)
            + "\nEither convert with ferry.pytorch_to_keras and TF's own converter "
            "(tf.lite.TFLiteConverter.from_keras_model(model).convert()), or, where Ferry "
            "has a built-in rule, drop the converter (ferry.unregister_converter(op)). "
            "Nothing was converted."
        )
    return identities


def _is_identity(user: UserConverter, node: TraceNode) -> bool:
    tensors = [t for t in _leaves((node.raw_args, node.raw_kwargs)) if isinstance(t, torch.Tensor)]
    if len(tensors) != 1 or len(node.output_refs()) != 1:
        return False
    args = (node.target, *node.raw_args) if node.kind == NodeKind.MODULE else node.raw_args
    stand = _Stand()
    try:
        made = user.func(*args, **node.raw_kwargs)
        swapped = [stand if isinstance(a, torch.Tensor) else a for a in node.raw_args]
        kwargs = {
            k: stand if isinstance(v, torch.Tensor) else v for k, v in node.raw_kwargs.items()
        }
        return made(*swapped, **kwargs) is stand
    except Exception:  # a TF callable given a stand-in: not an identity
        return False


def _leaves(obj: Any) -> list[Any]:
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in _leaves(item)]
    if isinstance(obj, dict):
        return [leaf for item in obj.values() for leaf in _leaves(item)]
    return [obj]
