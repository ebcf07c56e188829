"""Structure of the math, scan and reordering ops in the written .tflite: which builtins they
become, at which versions, and that static reorderings never gather. Values are checked
against PyTorch in LiteRT too (litert_cases.run)."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("ai_edge_litert")

from litert_cases import run  # noqa: E402


def names(ops: list[tuple[str, int]]) -> list[str]:
    return [name for name, _ in ops]


def test_flip_is_one_reverse_per_axis():
    ops = run(lambda x: x.flip((1, 3)), [(2, 3, 4, 5)])
    assert ops == [("REVERSE_V2", 1), ("REVERSE_V2", 1)]


def test_bool_flip_is_reverse_version_2():
    assert ("REVERSE_V2", 2) in run(lambda x: (x > 0).flip(0), [(3, 4)])


def test_cumsum_is_one_cumsum_in_int64_too():
    assert names(run(lambda x: x.cumsum(1), [(2, 6)])) == ["CUMSUM"]
    ints = lambda: torch.randint(-5, 5, (3, 4))  # noqa: E731
    assert names(run(lambda x: x.cumsum(-1), [ints])) == ["CUMSUM"]


def test_cumprod_takes_log_depth_steps_without_gather():
    ops = names(run(lambda x: x.cumprod(0), [lambda: torch.rand(9, 2) + 0.5]))
    assert ops.count("MUL") == 4  # offsets 1, 2, 4, 8
    assert "GATHER" not in ops


def test_roll_and_tril_are_static():
    ops = names(run(lambda x: torch.roll(x, (1, -2), (0, 1)), [(4, 5)]))
    assert set(ops) == {"STRIDED_SLICE", "CONCATENATION"}
    ops = names(run(lambda x: x.tril(1), [(2, 4, 4)]))
    assert ops == ["SELECT_V2"]


def test_triangles_keep_infinities_exact():
    x = torch.tensor([[math.inf, 1.0], [math.nan, -math.inf]])
    run(lambda t: t.triu(), [lambda: x.clone()])


def test_any_all_are_logical_reductions():
    assert names(run(lambda x: (x > 0).any(1), [(3, 4)])) == ["GREATER", "REDUCE_ANY"]
    assert names(run(lambda x: (x > 0).all(), [(3, 4)])) == ["GREATER", "REDUCE_ALL"]


def test_atan2_broadcasts_its_operands_first():
    ops = names(run(torch.atan2, [(2, 3), (3,)]))
    assert ops == ["BROADCAST_TO", "ATAN2"]
    assert names(run(torch.atan, [(2, 3)])) == ["BROADCAST_TO", "ATAN2"]


def test_remainder_is_floor_mod():
    assert names(run(lambda x: x % 1.5, [(2, 3)])) == ["FLOOR_MOD"]
