"""Small reference blocks written here, where no library ships the form: a GPT-style decoder
block with rotary positions, whose positions and causal mask follow the sequence length."""

from __future__ import annotations

import torch
from torch import nn


class GptBlock(nn.Module):
    """Pre-norm decoder block: causal scaled-dot-product attention on rotary (RoPE) positions
    computed from the input's length, then an MLP; [B, T, width] in and out."""

    def __init__(self, width: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        steps = torch.arange(0, self.head_dim, 2).float() / self.head_dim
        self.register_buffer("inv_freq", 1.0 / (10000**steps))

    def rope(self, x: torch.Tensor) -> torch.Tensor:
        angles = torch.outer(torch.arange(x.shape[2], dtype=x.dtype), self.inv_freq)
        cos, sin = angles.cos(), angles.sin()
        x1, x2 = x[..., : self.head_dim // 2], x[..., self.head_dim // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(
            self.rope(q), self.rope(k), v, is_causal=True
        )
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))
