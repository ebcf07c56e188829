"""docs/zoo.md from canned results: counts, failures with reasons, where slow time goes."""

from __future__ import annotations

from ferry.zoo.page import render, summary_lines
from ferry.zoo.run import BackendResult, ModelResult, _relative_diff


def _results() -> list[ModelResult]:
    good = BackendResult(ok=True, max_diff=2e-7, seconds=3.0, transposes=0, ops=40)
    slow = BackendResult(
        ok=True, max_diff=1e-6, seconds=90.0, stages=[("tracing", 10.0), ("validating", 80.0)]
    )
    wrong = BackendResult(ok=False, max_diff=0.3, seconds=5.0, reason="differs by 0.3")
    return [
        ModelResult("net-a", "classification", 1_500_000, keras=good, tflite=good),
        ModelResult("net-b", "transformers", 20_000, keras=slow, tflite=wrong),
        ModelResult("net-c", "video", error="ValueError: cannot build"),
    ]


def test_summary_counts_each_back_end():
    (line,) = summary_lines(_results(), 600.0)
    assert line.startswith("Keras: 2/3 pass, .tflite: 1/3 pass") and "10.0 min" in line


def test_page_lists_every_model_and_every_failure_with_its_reason():
    page = render(_results(), 600.0)
    assert "| net-a | classification | 1.5M | pass |" in page
    assert "| net-b | .tflite | differs by 0.3 |" in page
    assert "| net-c | Keras | ValueError: cannot build |" in page
    assert "## Failures (3)" in page


def test_the_slowest_conversion_comes_first_with_its_stages():
    page = render(_results(), 600.0)
    slowest = page.split("## The slowest conversions")[1].strip().splitlines()
    assert slowest[0] == "- net-b, Keras: 90.0 s (tracing 10.0 s, validating 80.0 s)"


def test_differences_are_relative_to_the_output_magnitude():
    import numpy as np

    assert _relative_diff([np.array([101.0])], [np.array([100.0])]) == 0.01
    assert _relative_diff([np.array([0.5])], [np.array([0.25])]) == 0.25


def test_update_reruns_only_the_named_models_and_keeps_the_rest(tmp_path, monkeypatch):
    import json
    from dataclasses import asdict

    from ferry.zoo import run

    old = [
        ModelResult("resnet18", "classification", 1, error="ValueError: old", wall=60.0),
        ModelResult("gpt2", "transformers", 2, keras=BackendResult(ok=True), wall=30.0),
    ]
    (tmp_path / "zoo.json").write_text(json.dumps([asdict(r) for r in old]))
    fresh = ModelResult("resnet18", "classification", 1, keras=BackendResult(ok=True), wall=20.0)
    monkeypatch.setattr(run, "_run_in_child", lambda name, timeout: fresh)
    run.main(["resnet18", "--update", "--out", str(tmp_path / "zoo.md")])
    saved = {r["name"]: r for r in json.loads((tmp_path / "zoo.json").read_text())}
    assert saved["resnet18"]["error"] == "" and saved["resnet18"]["keras"]["ok"]
    assert saved["gpt2"]["wall"] == 30.0
    assert "0.8 min in all" in (tmp_path / "zoo.md").read_text()  # 20 s + 30 s
