"""The Essentials example: a conv, a hard sigmoid and a strided-slice product.

Run: python examples/essentials.py [--user-converter] [--out out/essentials.keras]
Prints the conversion tree, checks the Keras model against PyTorch on a fresh input and
writes it to a .keras file.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import ferry as nobuco
from ferry import ChannelOrder, ChannelOrderingStrategy


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=(3, 3), padding=(1, 1), stride=(2, 2))

    def forward(self, x):
        x = self.conv(x)
        x = nn.Hardsigmoid()(x)
        x = 1 - x[:, ::2] * x[:, 1::2]
        return x


def register_nobuco_converter() -> None:
    import tensorflow as tf

    @nobuco.converter(
        F.hardsigmoid, channel_ordering_strategy=ChannelOrderingStrategy.MINIMUM_TRANSPOSITIONS
    )
    def hardsigmoid(input: torch.Tensor, inplace: bool = False):
        return lambda input, inplace=False: tf.clip_by_value(
            input / 6 + 1 / 2, clip_value_min=0, clip_value_max=1
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--user-converter",
        action="store_true",
        help="use the hardsigmoid converter from nobuco's README",
    )
    parser.add_argument("--out", default=os.path.join("out", "essentials.keras"))
    opts = parser.parse_args()
    if opts.user_converter:
        register_nobuco_converter()

    torch.manual_seed(0)
    dummy_image = torch.rand(size=(1, 3, 256, 256))
    pytorch_module = MyModule().eval()
    keras_model = nobuco.pytorch_to_keras(
        pytorch_module,
        args=[dummy_image],
        kwargs=None,
        inputs_channel_order=ChannelOrder.TENSORFLOW,
        outputs_channel_order=ChannelOrder.TENSORFLOW,
    )

    fresh = torch.rand(size=(1, 3, 256, 256))
    with torch.no_grad():
        expected = pytorch_module(fresh).permute(0, 2, 3, 1).numpy()
    actual = np.asarray(keras_model(fresh.permute(0, 2, 3, 1).numpy()))
    print(f"fresh input: max abs diff vs PyTorch = {np.abs(expected - actual).max():.3g}")

    os.makedirs(os.path.dirname(opts.out) or ".", exist_ok=True)
    keras_model.save(opts.out)
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
