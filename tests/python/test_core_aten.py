"""Every forward op of PyTorch's Core ATen opset has a rule, or a documented refusal.

The opset is read from the installed torch (ops tagged `torch.Tag.core`, backward ops left
out), so a newer torch that adds ops fails here until they are handled. A refusal is a rule
whose mapping says `refused: <why>`; docs/ops.md lists them with the reason, and must be what
`ferry ops --markdown` generates today.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ferry import _core
from ferry.ops_doc import REFUSED, markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ops.md"


def core_aten_ops() -> list[str]:
    names = set()
    for packet_name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, packet_name, None)
        if packet is None or not hasattr(packet, "overloads"):
            continue
        for overload in packet.overloads():
            if torch.Tag.core in getattr(packet, overload).tags:
                names.add(f"aten.{packet_name}.{overload}")
    return sorted(n for n in names if "backward" not in n)


def test_the_opset_is_read_from_torch():
    ops = core_aten_ops()
    assert len(ops) > 150 and "aten.convolution.default" in ops


def test_every_core_aten_op_has_a_rule_or_a_documented_refusal():
    missing = [op for op in core_aten_ops() if not _core.has_rule(op)]
    assert not missing, f"{len(missing)} Core ATen ops have neither a rule nor a refusal: {missing}"


def test_every_refusal_says_why():
    for op, mapping in _core.rules():
        if mapping.startswith("refused"):
            assert mapping.startswith(REFUSED) and len(mapping) > len(REFUSED) + 10, (op, mapping)


def test_the_op_reference_is_current():
    assert DOCS.read_text() == markdown(), "regenerate: ferry ops --markdown > docs/ops.md"
