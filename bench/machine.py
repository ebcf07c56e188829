"""What the benchmark pages say about the machine they were measured on."""

from __future__ import annotations

import re


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        return found.group(1).strip() if found else "unknown CPU"
    except OSError:
        return "unknown CPU"
