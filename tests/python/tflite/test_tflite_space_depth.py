"""Space/depth ops through the direct TFLite writer, run in LiteRT against PyTorch: one
SPACE_TO_DEPTH / DEPTH_TO_SPACE per call, pixel_(un)shuffle's channel interleave folded into
adjacent convolutions and kept (RESHAPE, TRANSPOSE, RESHAPE; never GATHER) elsewhere."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("ai_edge_litert")

from litert_cases import assert_matches, ops_of, run  # noqa: E402

import ferry  # noqa: E402
from ferry.addons import DepthToSpace, SpaceToDepth  # noqa: E402
from ferry.tflite import run_tflite  # noqa: E402

TF = ferry.ChannelOrder.TENSORFLOW
INTERLEAVE = [("RESHAPE", 1), ("TRANSPOSE", 1), ("RESHAPE", 1)]


def run_tf_order(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """Converts with TensorFlow-order input and output, checks LiteRT against PyTorch on a
    fresh input, returns the (op, version) pairs."""
    model.eval()
    data = ferry.pytorch_to_tflite(
        model, [torch.randn(shape)], inputs_channel_order=TF, outputs_channel_order=TF
    )
    x = torch.randn(shape) * 3 + 1
    with torch.no_grad():
        expected = model(x).permute(0, 2, 3, 1).numpy()
    (got,) = run_tflite(data, [x.permute(0, 2, 3, 1).numpy()])
    assert_matches(got, expected, 1e-5)
    return ops_of(data)


def test_space_to_depth_is_one_op():
    assert run(SpaceToDepth(2), [(1, 3, 8, 6)]) == [
        ("TRANSPOSE", 1),
        ("SPACE_TO_DEPTH", 1),
        ("TRANSPOSE", 1),
    ]
    assert run_tf_order(SpaceToDepth(3), (2, 5, 6, 9)) == [("SPACE_TO_DEPTH", 1)]


def test_depth_to_space_is_one_op():
    assert run_tf_order(DepthToSpace(2), (2, 12, 4, 3)) == [("DEPTH_TO_SPACE", 1)]


def test_pixel_unshuffle_interleaves_after_space_to_depth():
    assert run_tf_order(nn.PixelUnshuffle(2), (1, 3, 6, 10)) == [("SPACE_TO_DEPTH", 1), *INTERLEAVE]


def test_pixel_shuffle_interleaves_before_depth_to_space():
    assert run_tf_order(nn.PixelShuffle(3), (2, 18, 4, 5)) == [*INTERLEAVE, ("DEPTH_TO_SPACE", 1)]


@pytest.mark.parametrize(
    "fn",
    [lambda x: F.pixel_unshuffle(x, 2), lambda x: F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2)],
    ids=["unshuffle", "round-trip"],
)
def test_pytorch_order_io(fn):
    ops = run(fn, [(2, 3, 8, 6)])
    assert ("GATHER", 1) not in ops


def test_one_channel_or_factor_one_needs_no_interleave():
    assert run_tf_order(nn.PixelShuffle(2), (1, 4, 5, 5)) == [("DEPTH_TO_SPACE", 1)]
    assert run_tf_order(nn.PixelUnshuffle(3), (1, 1, 6, 6)) == [("SPACE_TO_DEPTH", 1)]
    assert "SPACE_TO_DEPTH" not in dict(run(nn.PixelUnshuffle(1), [(1, 3, 4, 4)]))


def test_unbatched_and_higher_rank():
    run(lambda x: F.pixel_shuffle(x, 2), [(8, 3, 5)])
    run(lambda x: F.pixel_unshuffle(x, 2), [(2, 3, 2, 4, 6)])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_integer_tensors(dtype):
    x = torch.randint(-50, 50, (1, 8, 3, 4), dtype=dtype)
    ops = run(nn.PixelShuffle(2), [lambda: x], fresh=[torch.randint(-50, 50, x.shape, dtype=dtype)])
    assert ("DEPTH_TO_SPACE", 1) in ops


def conv(cin: int, cout: int, k: int = 1, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, **kwargs)


def bn(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    return norm


# (model, input shape, ops expected with TensorFlow-order input and output)
FOLDED = {
    "unshuffle-conv": (
        nn.Sequential(nn.PixelUnshuffle(2), conv(12, 5)),
        (1, 3, 8, 8),
        ["SPACE_TO_DEPTH", "CONV_2D"],
    ),
    "conv-shuffle": (
        nn.Sequential(conv(3, 12, 3), nn.PixelShuffle(2)),
        (1, 3, 5, 7),
        ["CONV_2D", "DEPTH_TO_SPACE"],
    ),
    # The activation is fused into the CONV_2D; the batch norm folded into it.
    "conv-relu-shuffle": (
        nn.Sequential(conv(3, 12, 3), nn.ReLU(), nn.PixelShuffle(2)),
        (1, 3, 5, 7),
        ["CONV_2D", "DEPTH_TO_SPACE"],
    ),
    "conv-bn-shuffle-relu": (
        nn.Sequential(conv(3, 12, 3), bn(12), nn.PixelShuffle(2), nn.ReLU()),
        (1, 3, 5, 7),
        ["CONV_2D", "DEPTH_TO_SPACE", "RELU"],
    ),
    # Stride 2 pads explicitly: the PAD moves with the channels.
    "unshuffle-conv-stride-2": (
        nn.Sequential(nn.PixelUnshuffle(2), conv(12, 5, 3, stride=2)),
        (1, 3, 16, 12),
        ["SPACE_TO_DEPTH", "PAD", "CONV_2D"],
    ),
    "unshuffle-conv-conv-shuffle": (
        nn.Sequential(
            nn.PixelUnshuffle(2), conv(12, 16, 3), nn.ReLU(), conv(16, 12, 3), nn.PixelShuffle(2)
        ),
        (2, 3, 8, 10),
        ["SPACE_TO_DEPTH", "CONV_2D", "CONV_2D", "DEPTH_TO_SPACE"],
    ),
}


@pytest.mark.parametrize("name", FOLDED)
def test_interleave_folds_into_the_convolution(name):
    model, shape, expected = FOLDED[name]
    assert [op for op, _ in run_tf_order(model, shape)] == expected


# Where no convolution can take the permutation it stays a RESHAPE, TRANSPOSE, RESHAPE.


class ReadTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = conv(3, 12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return F.pixel_shuffle(y, 2) + F.interpolate(y[:, :3], scale_factor=2.0)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (nn.Sequential(conv(4, 8, 3, groups=2), nn.PixelShuffle(2)), (1, 4, 5, 5)),
        (nn.Sequential(nn.PixelUnshuffle(2), conv(12, 12, 3, groups=12)), (1, 3, 8, 8)),
        (ReadTwice(), (1, 3, 4, 4)),
    ],
    ids=["grouped-conv", "depthwise-conv", "conv-output-read-twice"],
)
def test_interleave_kept_where_it_cannot_fold(model, shape):
    ops = Counter(op for op, _ in run_tf_order(model, shape))
    assert ops["TRANSPOSE"] == 1 and ops["RESHAPE"] == 2 and ops["GATHER"] == 0


def test_same_model_same_bytes():
    # The folded weights are computed anew each time: they must come out the same.
    model = nn.Sequential(nn.PixelUnshuffle(2), conv(12, 20), nn.PixelShuffle(2)).eval()
    x = [torch.randn(1, 3, 8, 8)]
    first = ferry.pytorch_to_tflite(model, x, inputs_channel_order=TF, validate=False)
    second = ferry.pytorch_to_tflite(model, x, inputs_channel_order=TF, validate=False)
    assert bytes(first) == bytes(second)
