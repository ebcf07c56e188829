"""The peer benchmark's parsing, ratio arithmetic and tables, on canned results (the peers
themselves are not installed here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "peers"))
import stats  # noqa: E402


def lat(median: float) -> dict[str, float]:
    return {"median": median, "min": median * 0.9, "max": median * 1.2, "n": 30}


def canned() -> dict:
    return {
        "resnet50": {
            "ferry": {
                "status": "ok",
                "latency_1": lat(40.0),
                "latency_2": lat(25.0),
                "transpose": 0,
                "ops": 80,
                "size": 102_000_000,
                "convert_s": 1.5,
                "import_s": 2.0,
                "peak_mb": 900.0,
                "max_abs": 2e-6,
            },
            "nobuco": {
                "status": "ok",
                "latency_1": lat(44.0),
                "latency_2": lat(20.0),
                "transpose": 2,
                "ops": 120,
                "size": 102_400_000,
                "convert_s": 30.0,
                "import_s": 6.0,
                "peak_mb": 3000.0,
                "max_abs": 3e-6,
            },
            "onnx2tf": {"status": "FAIL", "reason": "ValueError: a | b"},
        },
        "gpt2": {
            "ferry": {"status": "FAIL", "reason": "LowerError: x"},
            "litert_torch": {"status": "ok", "latency_1": lat(90.0)},
        },
    }


def test_summarize() -> None:
    s = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert s == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    with pytest.raises(ValueError):
        stats.summarize([])


def test_parse_result_takes_the_last_result_line() -> None:
    out = 'noise\nRESULT {"a": 1}\nmore noise\nRESULT {"a": 2, "b": [1]}\ntrailing\n'
    assert stats.parse_result(out) == {"a": 2, "b": [1]}
    with pytest.raises(ValueError, match="no RESULT"):
        stats.parse_result("Traceback ...\n")


def test_failure_reason() -> None:
    err = "Traceback (most recent call last):\n  File x\nKeyError: 'addmm'\n\n"
    assert stats.failure_reason(err, 1) == "KeyError: 'addmm'"
    assert stats.failure_reason("", -9) == "killed by signal 9"
    assert stats.failure_reason("", 3) == "exit status 3"


def test_ratios_are_per_model_and_thread_count() -> None:
    results = canned()
    stats.with_ratios(results, [1, 2])
    rn = results["resnet50"]
    assert rn["ferry"]["ratio_1"] == 1.0
    assert rn["nobuco"]["ratio_1"] == pytest.approx(1.1)
    assert rn["nobuco"]["ratio_2"] == pytest.approx(0.8)
    assert rn["onnx2tf"]["ratio_1"] is None
    # Ferry failed on GPT-2: no reference, no ratio (never a division by a missing number)
    assert results["gpt2"]["litert_torch"]["ratio_1"] is None
    assert stats.ratio(5.0, 0.0) is None


def test_table_keeps_failures_with_their_reason() -> None:
    results = canned()
    stats.with_ratios(results, [1, 2])
    lines = stats.table(results, [1, 2])
    header = lines[0].split(" | ")
    assert len(lines) == 2 + 5
    for line in lines[2:]:
        assert line.count(" | ") == len(header) - 1  # the escaped | stays inside its cell
    fail = next(line for line in lines if "onnx2tf" in line)
    assert "FAIL: ValueError: a \\| b" in fail
    nobuco = next(line for line in lines if "nobuco" in line)
    assert "1.10×" in nobuco and "0.80×" in nobuco
    assert "44.00 (39.60–52.80)" in nobuco
    assert "2.93 GB" in nobuco and "30.0 s (+ 6.0 s)" in nobuco and "97.7 MB" in nobuco


def test_headline() -> None:
    results = canned()
    stats.with_ratios(results, [1])
    lines = stats.headline(results, 1)
    assert lines[0] == "- resnet50: nobuco 0.17.0 1.10×, onnx2tf 1.29.24 fails"
    assert lines[1].startswith("- gpt2: Ferry fails")


def test_page_renders_every_row_and_when_it_was_timed() -> None:
    import page

    results = canned()
    doc = {
        "models": results,
        "timing": {"resnet50": {"measured": "2026-01-01 10:00", "runs": 30, "load": [1.0, 1.5]}},
        "meta": {"cpu": "cpu", "cores": 2, "versions": "torch x", "notes": ["a note"]},
    }
    stats.with_ratios(results, [1, 2])
    text = page.page(doc, [1, 2])
    assert "- resnet50: 2026-01-01 10:00, 30 timed invokes" in text
    assert "FAIL: LowerError: x" in text and text.endswith("a note")


def test_committed_page_matches_committed_results() -> None:
    """docs/benchmarks.md's peers section is what docs/peers.json renders to."""
    import json
    import re

    import page

    root = Path(__file__).resolve().parents[3]
    doc = json.loads((root / "docs" / "peers.json").read_text())
    committed = (root / "docs" / "benchmarks.md").read_text()
    section = re.search(r"<!-- peers -->\n(.*)\n<!-- /peers -->", committed, re.S)
    assert section, "docs/benchmarks.md has no peers section"
    assert section.group(1) == page.page(doc, doc["meta"]["threads"])


def test_onnx2tf_failure_reason_is_its_own_error_lines():
    colour = "\x1b[31m"
    printed = (
        "INFO: converting\n"
        f"{colour}ERROR:\x1b[0m Generation of saved_model failed because the OP name does not match.\n"
        f"{colour}ERROR:\x1b[0m /features/block.0/Conv/kernel\n"
        f"{colour}ERROR:\x1b[0m Please convert again with the `-osd` option.\n"
        f"{colour}ERROR:\x1b[0m a fourth line is left out\n"
    )
    assert stats.onnx2tf_error(printed) == (
        "Generation of saved_model failed because the OP name does not match. | "
        "/features/block.0/Conv/kernel | Please convert again with the `-osd` option."
    )
    assert stats.onnx2tf_error("INFO: nothing went wrong\n") == ""
