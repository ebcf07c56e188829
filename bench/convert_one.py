"""Converts one torchvision architecture with full validation; used by bench/conversion.py.

Imports are part of what is measured, so everything is imported here, inside the run.
"""

from __future__ import annotations

import sys
import time

START = time.perf_counter()

import torch  # noqa: E402

sys.path.insert(0, "tests/python/models")
from torchvision_import import import_torchvision  # noqa: E402

import ferry  # noqa: E402


def main(name: str) -> None:
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    imported = time.perf_counter()
    keras_model = ferry.pytorch_to_keras(
        model,
        args=[torch.rand(1, 3, 224, 224)],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        full_validation=True,
        verbose=False,
    )
    done = time.perf_counter()
    report = keras_model.ferry_report
    print(
        f"RESULT model={name} imports_s={imported - START:.2f} convert_s={done - imported:.2f} "
        f"nodes_checked={len(report.nodes)} max_abs={report.max_output_abs:.3g}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
