"""Reshapes, permutations, squeeze/unsqueeze, cat, F.pad and basic indexing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_cases import PARAMS, case, params
from torch import nn

torch.manual_seed(0)
S4, S3, S2 = (1, 3, 8, 8), (2, 3, 8), (3, 5)


class CatParam(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.randn(1, 2, 8, 8))

    def forward(self, x):
        return torch.cat([x, self.p], 1)


CASES = [
    # flatten / view / reshape
    case("flatten-1", lambda x: torch.flatten(x, 1), S4),
    case("flatten-all", lambda x: x.flatten(), S4),
    case("flatten-2", lambda x: x.flatten(2), S4),
    case("flatten-1-2", lambda x: x.flatten(1, 2), S4),
    case("flatten-module", nn.Flatten(), S4),
    case("flatten-3d", lambda x: x.flatten(1), S3),
    case("view", lambda x: x.view(1, 3, 64), S4),
    case("view-infer", lambda x: x.view(1, -1, 8), S4),
    case("view-flat", lambda x: x.view(-1), S4),
    case("view-split-channels", lambda x: x.view(1, 3, 2, 4, 8), S4),
    case("view-as", lambda x, y: x.view_as(y), S4, (1, 24, 8)),
    case("reshape", lambda x: x.reshape(1, 3, 4, 16), S4),
    case("reshape-2d", lambda x: x.reshape(3, 64), S4),
    case("reshape-mix", lambda x: x.reshape(1, 8, 3, 8), S4),
    case("reshape-from-2d", lambda x: x.reshape(1, 3, 5), S2),
    case("unflatten", lambda x: x.unflatten(2, (2, 4)), S3),
    # permute / transpose / t / contiguous
    case("permute-nhwc", lambda x: x.permute(0, 2, 3, 1), S4),
    case("permute-nchw", lambda x: x.permute(0, 3, 1, 2), S4),
    case("permute-hw", lambda x: x.permute(0, 1, 3, 2), S4),
    case("permute-3d", lambda x: x.permute(0, 2, 1), S3),
    case("permute-3d-rot", lambda x: torch.permute(x, (2, 0, 1)), S3),
    case("permute-roundtrip", lambda x: x.permute(0, 2, 3, 1).permute(0, 3, 1, 2), S4),
    case("transpose-1-2", lambda x: x.transpose(1, 2), S4),
    case("transpose-2-3", lambda x: torch.transpose(x, 2, 3), S4),
    case("transpose-neg", lambda x: x.transpose(-1, 1), S4),
    case("transpose-3d", lambda x: x.transpose(1, 2), S3),
    case("t", lambda x: x.t(), S2),
    case("T", lambda x: x.T, S2),
    case("mT", lambda x: x.mT, S3),
    case("contiguous", lambda x: x.permute(0, 2, 3, 1).contiguous(), S4),
    case("contiguous-noop", lambda x: (x * 2).contiguous(), S4),
    case("permute-reshape", lambda x: x.permute(0, 2, 3, 1).reshape(1, 64, 3), S4),
    case("transpose-flatten", lambda x: x.transpose(1, 2).flatten(2), S4),
    case("movedim", lambda x: torch.movedim(x, 1, -1), S4),
    # squeeze / unsqueeze
    case("unsqueeze-0", lambda x: x.unsqueeze(0), S4),
    case("unsqueeze-1", lambda x: x.unsqueeze(1), S4),
    case("unsqueeze-2", lambda x: torch.unsqueeze(x, 2), S4),
    case("unsqueeze-last", lambda x: x.unsqueeze(-1), S4),
    case("unsqueeze-2d", lambda x: x.unsqueeze(1), S2),
    case("unsqueeze-3d", lambda x: x.unsqueeze(-1), S3),
    case("squeeze-all", lambda x: x.squeeze(), (1, 3, 1, 8)),
    case("squeeze-dim", lambda x: x.squeeze(2), (1, 3, 1, 8)),
    case("squeeze-batch", lambda x: torch.squeeze(x, 0), (1, 3, 1, 8)),
    case("squeeze-dims", lambda x: x.squeeze((0, 2)), (1, 3, 1, 8)),
    case("squeeze-noop", lambda x: x.squeeze(1), S4),
    case("squeeze-unsqueeze", lambda x: x.unsqueeze(2).squeeze(2), S4),
    # cat
    case("cat-channels", lambda x, y: torch.cat([x, y], 1), S4, (1, 5, 8, 8)),
    case("cat-height", lambda x, y: torch.cat([x, y], 2), S4, (1, 3, 4, 8)),
    case("cat-width", lambda x, y: torch.cat((x, y), dim=-1), S4, (1, 3, 8, 2)),
    case("cat-batch", lambda x, y: torch.cat([x, y]), S4, (2, 3, 8, 8)),
    case("cat-three", lambda x, y: torch.cat([x, y, x * 2], 1), S4, S4),
    case("cat-self", lambda x: torch.cat([x, x], 1), S4),
    case("cat-3d", lambda x, y: torch.cat([x, y], 1), S3, (2, 1, 8)),
    case("cat-2d", lambda x, y: torch.cat([x, y], 0), S2, (1, 5)),
    case("cat-param", CatParam(), S4),
    case("concat", lambda x, y: torch.concat([x, y], 1), S4, S4),
    # F.pad
    case("pad-last", lambda x: F.pad(x, (1, 2)), S4),
    case("pad-hw", lambda x: F.pad(x, (1, 0, 2, 3), value=-1.5), S4),
    case("pad-channels", lambda x: F.pad(x, (0, 0, 0, 0, 1, 2)), S4),
    case("pad-crop", lambda x: F.pad(x, (-1, 2, 0, -3)), S4),
    case("pad-reflect", lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect"), S4),
    case("pad-reflect-3d", lambda x: F.pad(x, (3, 1), mode="reflect"), S3),
    case("pad-2d", lambda x: F.pad(x, (1, 1, 2, 0)), S2),
    case("zeropad2d", nn.ZeroPad2d((1, 2, 3, 0)), S4),
    case("constantpad1d", nn.ConstantPad1d((2, 1), 3.5), S3),
    case("reflectionpad2d", nn.ReflectionPad2d(2), S4),
    case("pad-crop-both", lambda x: F.pad(x, (-2, -1, 1, -3)), S4),
    case("pad-reflect-crop", lambda x: F.pad(x, (-1, 2, 2, -1), mode="reflect"), S4),
    case("pad-reflect-5d", lambda x: F.pad(x, (1, 2, 2, 0, 1, 1), mode="reflect"), (1, 2, 4, 5, 6)),
    case("pad-replicate", lambda x: F.pad(x, (2, 1, 3, 1), mode="replicate"), S4),
    case("pad-replicate-1d", lambda x: F.pad(x, (3, 1), mode="replicate"), S3),
    case(
        "pad-replicate-3d",
        lambda x: F.pad(x, (1, 2, 0, 1, 2, 1), mode="replicate"),
        (1, 2, 3, 4, 5),
    ),
    case("pad-replicate-crop", lambda x: F.pad(x, (-1, 2, 3, -2), mode="replicate"), S4),
    case("pad-circular", lambda x: F.pad(x, (2, 1, 3, 1), mode="circular"), S4),
    case("pad-circular-1d", lambda x: F.pad(x, (3, 8), mode="circular"), S3),
    case(
        "pad-circular-3d", lambda x: F.pad(x, (1, 2, 0, 1, 2, 1), mode="circular"), (1, 2, 3, 4, 5)
    ),
    case("pad-circular-crop", lambda x: F.pad(x, (-1, 2, 3, -2), mode="circular"), S4),
    case("reflectionpad1d", nn.ReflectionPad1d((3, 2)), S3),
    case("reflectionpad3d", nn.ReflectionPad3d(1), (1, 2, 3, 4, 5)),
    case("replicationpad1d", nn.ReplicationPad1d((3, 2)), S3),
    case("replicationpad2d", nn.ReplicationPad2d((1, 2, 0, 3)), S4),
    case("replicationpad3d", nn.ReplicationPad3d(1), (1, 2, 3, 4, 5)),
    case("circularpad1d", nn.CircularPad1d((3, 2)), S3),
    case("circularpad2d", nn.CircularPad2d((1, 2, 0, 3)), S4),
    case("circularpad3d", nn.CircularPad3d(1), (1, 2, 3, 4, 5)),
    case("zeropad1d", nn.ZeroPad1d((2, -1)), S3),
    case("zeropad3d", nn.ZeroPad3d((1, 0, 2, 1, 0, 1)), (1, 2, 3, 4, 5)),
    case("aten-reflection-pad2d", lambda x: torch.ops.aten.reflection_pad2d(x, [1, 2, 2, 1]), S4),
    case("aten-replication-pad1d", lambda x: torch.ops.aten.replication_pad1d(x, [2, 3]), S3),
    case(
        "aten-replication-pad3d",
        lambda x: torch.ops.aten.replication_pad3d(x, [1] * 6),
        (1, 2, 3, 4, 5),
    ),
    case("aten-constant-pad-crop", lambda x: torch.constant_pad_nd(x, [-1, 2, 1, -2], 0.5), S4),
    # getitem: slices, steps, ints, None, Ellipsis, negative indices
    case("slice-channels", lambda x: x[:, 1:], S4),
    case("slice-channels-step", lambda x: x[:, ::2], S4),
    case("slice-channels-odd", lambda x: x[:, 1::2], S4),
    case("slice-hw", lambda x: x[:, :, 2:6, 1:7], S4),
    case("slice-hw-step", lambda x: x[:, :, ::2, 1::3], S4),
    case("slice-ellipsis", lambda x: x[..., 2:6], S4),
    case("slice-ellipsis-mid", lambda x: x[:, ..., ::2], S4),
    case("slice-negative", lambda x: x[:, :, -3:], S4),
    case("slice-negative-end", lambda x: x[:, :-1, :-2], S4),
    case("slice-past-end", lambda x: x[:, :10, 4:100], S4),
    case("int-batch", lambda x: x[0], S4),
    case("int-channel", lambda x: x[:, 1], S4),
    case("int-negative", lambda x: x[:, -1], S4),
    case("int-last", lambda x: x[..., -1], S4),
    case("int-ellipsis", lambda x: x[:, 0, ...], S4),
    case("int-two", lambda x: x[0, :, 3], S4),
    case("none-front", lambda x: x[None], S4),
    case("none-channel", lambda x: x[:, None], S4),
    case("none-last", lambda x: x[..., None], S4),
    case("none-mixed", lambda x: x[0, :, 2:5, None, -1], S4),
    case("none-2d", lambda x: x[:, None, :], S2),
    case("chained", lambda x: x[:, 1:][:, :, 2:][..., ::2], S4),
    case("chained-int", lambda x: x[0][1][2:], S4),
    case("chained-none", lambda x: x[:, None][:, :, 1], S4),
    case("slice-3d", lambda x: x[:, 1:, ::3], S3),
    case("slice-2d", lambda x: x[1:, -2], S2),
    case("slice-computed", lambda x: (x * 2)[:, ::2] + x[:, 1::2], (1, 4, 8, 8)),
    case("select", lambda x: x.select(1, 2), S4),
    case("narrow", lambda x: x.narrow(2, 1, 4), S4),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_shape(case, backend, channels_last):
    case.check(backend, channels_last)


def test_expand_to_a_larger_shape(compare):
    # torchvision's ViT expands its class token to the batch: [1, 1, D] -> [B, 1, D].
    token = torch.nn.Parameter(torch.randn(1, 1, 8))

    def fn(x):
        return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1) + torch.ones(1).expand(8)

    compare(fn, lambda: [torch.randn(4, 5, 8)], channels_last=False)
    compare(
        lambda x: x[:, :1].expand(-1, 6, -1, -1) * x.mean(1, keepdim=True),
        lambda: [torch.randn(2, 3, 4, 5)],
        channels_last=True,
    )


@pytest.mark.parametrize("channels_last", [False, True])
def test_repeat(compare, channels_last):
    compare(
        lambda x: x.repeat(1, 2, 1, 3) + x.repeat(2, 1, 1, 1)[:1].repeat(1, 2, 1, 3),
        lambda: [torch.randn(1, 3, 4, 5)],
        channels_last=channels_last,
    )
    compare(lambda x: x.repeat(2, 1, 2), lambda: [torch.randn(3, 4)], channels_last=False)
