"""The peers section of docs/benchmarks.md and its chart, rendered from docs/peers.json.

Free of torch and LiteRT: a test renders the committed results and checks the committed page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import stats


def chart(results: dict[str, dict[str, dict[str, Any]]], path: Path, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    tools = [t for t in stats.TOOLS if any(t in rows for rows in results.values())]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(1, len(tools))
    for i, tool in enumerate(tools):
        values = [results[n].get(tool, {}).get(f"ratio_{threads}") for n in names]
        xs = [j + i * width for j, v in enumerate(values) if v is not None]
        ax.bar(xs, [v for v in values if v is not None], width, label=stats.TOOLS[tool])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(
        [j + width * (len(tools) - 1) / 2 for j in range(len(names))],
        names,
        rotation=20,
        ha="right",
    )
    ax.set_ylabel(f"LiteRT latency ÷ Ferry's ({threads} thread)")
    ax.set_title(
        "Latency relative to Ferry's direct .tflite (XNNPACK; lower is faster; missing bar: failed)"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def missing(doc: dict[str, Any]) -> list[str]:
    absent = [m for m in doc["meta"].get("models", []) if m not in doc["models"]]
    if not absent:
        return []
    return [
        "",
        f"Not measured yet: {', '.join(absent)} (`python bench/peers/run.py --models "
        f"{','.join(absent)} --update`).",
    ]


def page(doc: dict[str, Any], threads: list[int]) -> str:
    meta, results = doc["meta"], doc["models"]
    when = [
        f"- {name}: {m['measured']}, {m['runs']} timed invokes per file and thread count, "
        f"1-minute load average {m['load'][0]:.1f} before timing, {m['load'][1]:.1f} after"
        for name, m in doc["timing"].items()
    ]
    return "\n".join(
        [
            "## Ferry beside the other converters",
            "",
            f"`python bench/peers/run.py` on {meta['cpu']} ({meta['cores']} cores); "
            f"{meta['versions']}. Every file is timed by that LiteRT, with XNNPACK (the "
            f"interpreter's default delegate): {stats.WARMUP} warm-up invokes, then timed "
            f"invokes in rounds of {stats.PER_ROUND} that visit the model's files in turn (the "
            "order rotating), so that drift hits all files alike. Latency is the median with "
            "min–max; ÷ Ferry is that median over the median of Ferry's direct file in the "
            "same process (> 1: slower than Ferry).",
            "",
            "Each peer ran in its own virtual environment (`bench/peers/venvs.py`), each "
            "conversion in a fresh process with the tool's defaults and its validation off "
            "(Ferry: `validate=False`; Ferry's Keras route and nobuco: `full_validation=False`). "
            "Conversion time excludes the imports (in brackets) and the model's construction, "
            "and includes the tool's own run of the model in PyTorch (the first one in a "
            "process is slow); peak RSS is the whole process's, children included. The same "
            "random weights (random batch-norm statistics) go to every tool; the difference is "
            "measured on a fresh input, not the traced one. Image models take channels-last "
            "input where the tool offers it (Ferry, nobuco, onnx2tf); LiteRT Torch keeps NCHW. "
            "The keras.applications rows are the same architecture written in Keras "
            "(`include_preprocessing=False`; Keras' ResNet50 is v1, torchvision's v1.5; its "
            "classifiers end in a softmax): the floor a hand-written TensorFlow model gets, "
            "with its own random weights.",
            "",
            *stats.table(results, threads),
            "",
            "![latency relative to Ferry](peers.png)",
            "",
            "Per model, each tool's 1-thread latency as a ratio to Ferry's:",
            "",
            *stats.headline(results, 1),
            "",
            "When each model was timed:",
            "",
            *when,
            *missing(doc),
            "",
            *meta["notes"],
        ]
    )
