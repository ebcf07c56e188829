"""docs/benchmarks.md is assembled from sections, each owned by one benchmark script."""

from __future__ import annotations

import os
import re

PATH = os.path.join("docs", "benchmarks.md")
HEADER = "# Benchmarks\n\nEach section is written by the script it names; rerun it to refresh.\n"


def write_section(name: str, text: str) -> None:
    page = HEADER
    if os.path.exists(PATH):
        with open(PATH, encoding="utf-8") as f:
            page = f.read()
    if not page.startswith("# Benchmarks"):
        page = HEADER
    block = f"<!-- {name} -->\n{text.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    page = (
        pattern.sub(lambda _: block, page)
        if pattern.search(page)
        else page.rstrip() + "\n\n" + block + "\n"
    )
    with open(PATH, "w", encoding="utf-8") as f:
        f.write(page)
