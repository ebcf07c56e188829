"""Static models whose `.tflite` bytes are pinned: a change that makes shapes symbolic must not
move a single byte of a model whose every dimension is fixed.

    python tests/python/tflite/static_bytes.py --update   # rewrite static_hashes.json

Only update the hashes for a change meant to alter the files (a new op form, a fixed bug), and
say so in the commit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from models.gru_conv1d import GruTwoConv1d  # noqa: E402
from models.torchvision_import import import_torchvision  # noqa: E402

HASHES = HERE / "static_hashes.json"


class Tagger(nn.Module):
    """A 2-layer bidirectional LSTM tagger."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(48, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


class TinyUNet(nn.Module):
    """Down, up by a transposed convolution and by interpolation, skip concatenations."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.mid = nn.Conv2d(8, 8, 3, 2, 1)
        self.up1 = nn.ConvTranspose2d(8, 8, 2, 2)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.down(x)
        u = self.up1(torch.relu(self.mid(d)))
        y = self.out(torch.cat([u, d], 1))
        return nn.functional.interpolate(y, scale_factor=2.0, mode="bilinear")


class SliceWrite(nn.Module):
    """nobuco's SliceReLU behind a convolution: an in-place op on a strided slice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x[:, ::2, :, 1::3] = torch.relu_(x[:, ::2, :, 1::3])
        return x


def _torchvision(name: str) -> Callable[[], nn.Module]:
    return lambda: getattr(import_torchvision().models, name)(weights=None)


def _encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu")
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


TF, PT = "tensorflow", "pytorch"

# name: (model builder, input shapes, channel order of inputs and outputs, other options)
CASES: dict[str, tuple[Callable[[], nn.Module], list[tuple[int, ...]], str, dict[str, Any]]] = {
    "resnet18": (_torchvision("resnet18"), [(1, 3, 64, 64)], TF, {}),
    "resnet18_float16": (_torchvision("resnet18"), [(1, 3, 64, 64)], TF, {"float16_weights": True}),
    "mobilenet_v3_small": (_torchvision("mobilenet_v3_small"), [(2, 3, 64, 64)], PT, {}),
    "transformer_encoder": (_encoder, [(2, 10, 32)], PT, {}),
    "lstm_tagger": (Tagger, [(1, 12, 16)], PT, {}),
    "lstm_tagger_unrolled": (Tagger, [(1, 12, 16)], PT, {"recurrent": "unrolled"}),
    "gru_conv1d": (GruTwoConv1d, [(1, 12, 32)], TF, {}),
    "tiny_unet": (TinyUNet, [(1, 3, 32, 32)], TF, {}),
    "slice_write": (SliceWrite, [(1, 3, 8, 12)], TF, {}),
}


def convert(name: str) -> bytes:
    import ferry

    build, shapes, order, options = CASES[name]
    torch.manual_seed(0)
    model = build().eval()
    generator = torch.Generator().manual_seed(1)
    args = [torch.rand(shape, generator=generator) for shape in shapes]
    channel_order = ferry.ChannelOrder(order)
    return bytes(
        ferry.pytorch_to_tflite(
            model,
            args,
            inputs_channel_order=channel_order,
            outputs_channel_order=channel_order,
            validate=False,
            verbose=False,
            **options,
        )
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite static_hashes.json")
    args = parser.parse_args()
    hashes = {name: digest(convert(name)) for name in CASES}
    if args.update:
        HASHES.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    print(json.dumps(hashes, indent=1))


if __name__ == "__main__":
    main()
