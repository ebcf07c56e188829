"""While Ferry traces a model with free sizes, transformers takes its traced paths."""

from __future__ import annotations

import torch
from models.torchvision_import import import_torchvision

from ferry.trace.libraries import libraries_see_tracing


def test_transformers_sees_tracing_inside_only():
    import_torchvision()  # transformers imports torchvision
    from transformers import masking_utils

    mask = torch.ones(1, 4, dtype=torch.bool)
    assert not masking_utils.is_tracing(mask)
    with libraries_see_tracing():
        assert masking_utils.is_tracing(mask)
    assert not masking_utils.is_tracing(mask)
