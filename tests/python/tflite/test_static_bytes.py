"""Static models keep their exact `.tflite` bytes (hashes in static_hashes.json)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ai_edge_litert")

from static_bytes import CASES, HASHES, convert, digest  # noqa: E402

PINNED = json.loads(HASHES.read_text())


def test_every_case_is_pinned():
    assert sorted(PINNED) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_model_bytes_unchanged(name):
    assert digest(convert(name)) == PINNED[name], (
        f"{name}: the .tflite bytes changed; if that is meant, run "
        "tests/python/tflite/static_bytes.py --update and say why in the commit"
    )
