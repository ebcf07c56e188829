"""A small ViT-B/16-like model (patch embedding, class token, position embedding, pre-norm
encoder blocks with nn.MultiheadAttention, head on the class token): Keras matches PyTorch on
a fresh TF-order image and survives a .keras round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from torch import nn

import ferry

# Per-layer float32 rounding (~1e-7 relative) through a 768-input patch convolution, two
# blocks and the head stays far below this; 1e-5 would hold today but leaves no margin for
# other summation orders in TF's kernels.
TOLERANCE = 1e-4
IMAGE, PATCH, DIM, HEADS, BLOCKS, MLP, CLASSES = 64, 16, 64, 4, 2, 128, 10


class Block(nn.Module):
    """torchvision's EncoderBlock: pre-norm attention and MLP, each with a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(DIM, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(DIM, HEADS, batch_first=True)
        self.ln_2 = nn.LayerNorm(DIM, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(DIM, MLP), nn.GELU(), nn.Dropout(0.1), nn.Linear(MLP, DIM), nn.Dropout(0.1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class TinyViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        tokens = (IMAGE // PATCH) ** 2 + 1
        self.conv_proj = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.class_token = nn.Parameter(torch.randn(1, 1, DIM) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens, DIM) * 0.02)
        self.blocks = nn.Sequential(*[Block() for _ in range(BLOCKS)])
        self.ln = nn.LayerNorm(DIM, eps=1e-6)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # [B, patches, DIM]
        cls = self.class_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embedding
        x = self.ln(self.blocks(x))
        return self.head(x[:, 0])


def _image() -> torch.Tensor:
    # Batch 2: the class token is expanded to the batch (broadcast_to).
    return torch.rand(2, 3, IMAGE, IMAGE)


@pytest.fixture(scope="module")
def converted():
    torch.manual_seed(0)
    model = TinyViT().eval()
    keras_model = ferry.pytorch_to_keras(
        model,
        args=[_image()],
        inputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        outputs_channel_order=ferry.ChannelOrder.TENSORFLOW,
        verbose=False,
    )
    fresh = _image()
    with torch.no_grad():
        expected = model(fresh).numpy()
    return keras_model, fresh.permute(0, 2, 3, 1).numpy(), expected


def test_keras_matches_pytorch_on_a_fresh_input(converted):
    keras_model, x, expected = converted
    got = np.asarray(keras_model(x))
    assert got.shape == expected.shape == (2, CLASSES)
    assert np.abs(got - expected).max() <= TOLERANCE


def test_every_node_was_checked_and_accurate(converted):
    keras_model, _, _ = converted
    report = keras_model.ferry_report
    assert report.nodes, "full validation checked no node"
    assert max(check.max_abs for check in report.nodes.values()) <= TOLERANCE


def test_attention_is_converted_whole(converted):
    """Each nn.MultiheadAttention becomes one F.multi_head_attention_forward conversion:
    no matmul over a [B*heads, ...] reshape from the Python function's inner calls."""
    keras_model, _, _ = converted
    ops = [layer.__class__.__name__ for layer in keras_model.layers]
    assert ops.count("Dense") == BLOCKS * (3 + 1 + 2) + 1  # q, k, v, out_proj, MLP; head


def test_keras_file_round_trip(converted, tmp_path):
    keras_model, x, expected = converted
    path = tmp_path / "vit.keras"
    keras_model.save(path)
    loaded = keras.models.load_model(path)
    assert np.abs(np.asarray(loaded(x)) - expected).max() <= TOLERANCE
