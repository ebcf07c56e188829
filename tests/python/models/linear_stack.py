"""Models with gigabytes of weights, cheaply: Linear layers width -> hidden -> width -> ...
with ReLUs, created on the meta device and filled once (no default init pass)."""

from __future__ import annotations

import math

import torch

GIB = 1 << 30


def linear_stack(gib: float, width: int, hidden: int, seed: int = 0) -> tuple[torch.nn.Module, int]:
    """The fewest layers holding at least `gib` GiB of float32 weights; (model, weight bytes)."""
    per_layer = (width * hidden + hidden) * 4
    layers = max(1, math.ceil(gib * GIB / per_layer))
    torch.manual_seed(seed)
    modules: list[torch.nn.Module] = []
    for i in range(layers):
        fan_in, fan_out = (width, hidden) if i % 2 == 0 else (hidden, width)
        with torch.device("meta"):
            linear = torch.nn.Linear(fan_in, fan_out)
        linear = linear.to_empty(device="cpu")
        bound = fan_in**-0.5
        torch.nn.init.uniform_(linear.weight, -bound, bound)
        torch.nn.init.uniform_(linear.bias, -bound, bound)
        modules += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1]).eval()
    return model, sum(p.numel() * p.element_size() for p in model.parameters())
