"""Channel-order solver: time on synthetic graphs and on real models; transposes before/after.

Run from the repository root:  .venv/bin/python bench/layout.py
Builds the C++ bench tool if needed, then updates the "layout" section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import torch
from sections import write_section

sys.path.insert(0, os.path.join("tests", "python"))
BUILD = os.path.join("build", "cpp")


def synthetic_rows() -> list[str]:
    if not os.path.exists(os.path.join(BUILD, "ferry-layout-bench")):
        subprocess.run(
            ["cmake", "-S", ".", "-B", BUILD, "-G", "Ninja", "-DFERRY_BUILD_PYTHON=OFF"], check=True
        )
    subprocess.run(["cmake", "--build", BUILD, "--target", "ferry-layout-bench", "-j2"], check=True)
    rows = []
    for nodes in (2_000, 20_000, 100_000):
        out = subprocess.run(
            [os.path.join(BUILD, "ferry-layout-bench"), str(nodes)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        f = dict(re.findall(r"(\w+)=(\S+)", out))
        rows.append(
            f"| synthetic, {nodes} nodes | {f['variables']} | {f['method']} | {float(f['solve_s']) * 1000:.0f} ms | {f['node_by_node_transposes']} | {f['transposes']} |"
        )
    return rows


def model_rows() -> list[str]:
    from models.test_vit import TinyViT
    from models.torchvision_import import import_torchvision

    import ferry
    from ferry.core_bridge import run_core
    from ferry.trace import trace_module

    tv = import_torchvision()
    models = {
        "resnet50": (tv.models.resnet50(weights=None), (1, 3, 224, 224)),
        "mobilenet_v3_large": (tv.models.mobilenet_v3_large(weights=None), (1, 3, 224, 224)),
        "deeplabv3_resnet50": (
            tv.models.segmentation.deeplabv3_resnet50(
                weights=None, weights_backbone=None, aux_loss=False
            ),
            (1, 3, 224, 224),
        ),
        "vit-like (2 blocks)": (TinyViT(), (1, 3, 64, 64)),
    }
    rows = []
    for name, (model, shape) in models.items():
        trace = trace_module(model.eval(), [torch.rand(*shape)])
        for order in ("tensorflow", "pytorch"):
            r = run_core(
                trace,
                disabled=ferry.converters.disabled_rule_names(),
                input_orders=[order],
                output_orders=[order],
            )
            solve = dict(r.seconds).get("layout", 0.0)
            before, before_bytes = r.transposes_node_by_node
            after, after_bytes = r.transposes
            rows.append(
                f"| {name}, {order} order in/out | {r.layout['variables']} | {r.layout['method']} | {solve * 1000:.1f} ms | "
                f"{before} ({before_bytes / 1e6:.2f} MB) | {after} ({after_bytes / 1e6:.2f} MB) |"
            )
    return rows


def main() -> None:
    rows = synthetic_rows() + model_rows()
    text = "\n".join(
        [
            "## Channel-order solver",
            "",
            "`python bench/layout.py`. Solve time is the global assignment (model building, parity,",
            "minimum cut); transposes are counted in the final graph, bytes are moved per inference.",
            '"Node by node" is the same graph with order decided per node, as nobuco does.',
            "",
            "| graph | choices | method | solve time | transposes node by node | transposes solved |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    write_section("layout", text)
    print(text)


if __name__ == "__main__":
    main()
