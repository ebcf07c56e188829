"""scaled_dot_product_attention with grouped query heads (enable_gqa), as Llama, Mistral and
Qwen2 call it: each key/value head serves consecutive query heads. Both back ends."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from op_cases import PARAMS, case, params


def gqa(**kwargs):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kwargs)


CASES = [
    case("gqa-2-groups", gqa(), (1, 4, 5, 8), (1, 2, 5, 8), (1, 2, 5, 8)),
    case("gqa-causal", gqa(is_causal=True), (2, 6, 7, 4), (2, 2, 7, 4), (2, 2, 7, 4)),
    case("gqa-one-kv-head", gqa(scale=0.3), (1, 3, 4, 8), (1, 1, 6, 8), (1, 1, 6, 8)),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_grouped_query_attention(case, backend, channels_last):
    case.check(backend, channels_last)
