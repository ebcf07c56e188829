"""nobuco's README, section "Nobuco knowledge base": locate_converter."""

from __future__ import annotations

import os
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import ferry as nobuco


@pytest.mark.parametrize(
    "node, rule_text",
    [(torch.Tensor.repeat, "repeat"), (F.relu_, "relu"), (nn.LSTM, "lstm")],
)
def test_locate_converter(node, rule_text, capsys):
    location_link, source_code = nobuco.locate_converter(node)
    print("Converter location:")
    print(location_link)
    print("Converter source code:")
    print(source_code)

    match = re.match(r'File "([^"]+)", line (\d+)', location_link)
    assert match, location_link
    path, line = match.group(1), int(match.group(2))
    assert os.path.isfile(path) and path.endswith(".cc")
    with open(path, encoding="utf-8") as f:
        assert 0 < line <= len(f.read().splitlines())
    assert rule_text in source_code.lower()
    assert "registry.add" in source_code or "add_" in source_code
    assert "Converter location" in capsys.readouterr().out
