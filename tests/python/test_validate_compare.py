"""Per-node validation's difference measure on non-finite values."""

from __future__ import annotations

import numpy as np
import pytest

from ferry.validate.compare import differences

INF, NAN = np.inf, np.nan


@pytest.mark.parametrize(
    "expected, actual, diff",
    [
        ([-INF, 0.0, 1.0], [-INF, 0.0, 1.0], 0.0),  # attention masks: equal infinities match
        ([NAN, 1.0], [NAN, 1.0], 0.0),  # NaN where PyTorch has NaN (a fully masked row)
        ([NAN, 1.0], [0.0, 1.0], INF),
        ([1.0, 1.0], [NAN, 1.0], INF),  # a NaN must not vanish in max()
        ([INF], [-INF], INF),
        ([1.0, 2.0], [1.5, 2.0], 0.5),
    ],
)
def test_differences_with_non_finite_values(expected, actual, diff):
    with np.errstate(all="raise"):
        max_abs, _ = differences(np.array(expected), np.array(actual))
    assert max_abs == diff
