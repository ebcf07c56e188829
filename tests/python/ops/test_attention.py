"""Attention: nn.MultiheadAttention, F.scaled_dot_product_attention, nn.TransformerEncoder.

Each case converts with one set of inputs and compares with PyTorch on fresh ones. Key padding
masks are model inputs (random per draw), so the mask path computed at run time is covered;
attn_masks are constants, which the converter folds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

E, H, B, L, S = 64, 4, 2, 10, 7


def padding_mask(batch: int, length: int, fully_masked_row: bool = False) -> torch.Tensor:
    """True = padded. Random, but never a whole row unless asked for (PyTorch gives NaN or 0)."""
    mask = torch.rand(batch, length) < 0.3
    mask[:, 0] = False
    if fully_masked_row:
        mask[0] = True
    return mask


def causal_bool(rows: int, cols: int) -> torch.Tensor:
    return torch.ones(rows, cols, dtype=torch.bool).triu(1)  # True = masked (MHA convention)


class Mha(nn.Module):
    """nn.MultiheadAttention returning only tensors (need_weights=False gives None weights)."""

    def __init__(self, batch_first=True, attn_mask=None, cross=False, bias=True, **call):
        super().__init__()
        kdim = 48 if cross else None
        self.mha = nn.MultiheadAttention(
            E, H, batch_first=batch_first, kdim=kdim, vdim=kdim, bias=bias
        )
        self.attn_mask = attn_mask
        self.call = call

    def forward(self, x, *rest):
        kv = x
        kpm = None
        for t in rest:
            if t.dtype == torch.bool:
                kpm = t
            else:
                kv = t
        out, weights = self.mha(
            x, kv, kv, key_padding_mask=kpm, attn_mask=self.attn_mask, **self.call
        )
        return out if weights is None else (out, weights)


def seq(batch_first=True, length=L, dim=E):
    return (
        (lambda: torch.randn(B, length, dim))
        if batch_first
        else (lambda: torch.randn(length, B, dim))
    )


def inputs(*makers):
    return lambda: [m() for m in makers]


MHA_CASES = {
    "bf": (Mha(need_weights=False), inputs(seq())),
    "bf-weights": (Mha(need_weights=True), inputs(seq())),
    "bf-weights-per-head": (
        Mha(need_weights=True, average_attn_weights=False),
        inputs(seq()),
    ),
    "seq-first": (Mha(batch_first=False, need_weights=False), inputs(seq(False))),
    "seq-first-weights": (Mha(batch_first=False, need_weights=True), inputs(seq(False))),
    "unbatched": (Mha(need_weights=True), inputs(lambda: torch.randn(L, E))),
    "no-bias": (Mha(bias=False, need_weights=False), inputs(seq())),
    "bool-attn-mask": (Mha(attn_mask=causal_bool(L, L), need_weights=False), inputs(seq())),
    "float-attn-mask": (
        Mha(attn_mask=torch.randn(L, L), need_weights=False),
        inputs(seq()),
    ),
    "3d-attn-mask": (
        Mha(attn_mask=torch.randn(B * H, L, L), need_weights=True),
        inputs(seq()),
    ),
    "is-causal": (
        Mha(attn_mask=causal_bool(L, L), is_causal=True, need_weights=False),
        inputs(seq()),
    ),
    "key-padding": (Mha(need_weights=False), inputs(seq(), lambda: padding_mask(B, L))),
    "key-padding-weights": (Mha(need_weights=True), inputs(seq(), lambda: padding_mask(B, L))),
    "key-padding-and-mask": (
        Mha(attn_mask=causal_bool(L, L), need_weights=False),
        inputs(seq(), lambda: padding_mask(B, L)),
    ),
    "key-padding-seq-first": (
        Mha(batch_first=False, need_weights=False),
        inputs(seq(False), lambda: padding_mask(B, L)),
    ),
    "cross-kdim": (Mha(cross=True, need_weights=True), inputs(seq(), seq(True, S, 48))),
    "cross-kdim-seq-first": (
        Mha(batch_first=False, cross=True, need_weights=False),
        inputs(seq(False), seq(False, S, 48)),
    ),
}


@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multihead_attention(compare, name):
    torch.manual_seed(0)
    module, make = MHA_CASES[name]
    compare(module, make)


def test_multihead_attention_fully_masked_batch():
    """A batch entry whose keys are all padding. PyTorch's own paths disagree there: the SDPA
    path of F.multi_head_attention_forward (the one traced: the tracer keeps modules off the
    fast path) gives zero attention, so out_proj's bias; the fused fast path of a plain
    no_grad call gives NaN. The conversion reproduces the traced path."""
    import ferry

    torch.manual_seed(0)
    module = Mha(need_weights=False).eval()
    make = inputs(seq(), lambda: padding_mask(B, L, fully_masked_row=True))
    order = ferry.ChannelOrder.PYTORCH
    keras_model = ferry.pytorch_to_keras(
        module, args=make(), inputs_channel_order=order, outputs_channel_order=order, verbose=False
    )
    x, kpm = make()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            expected = module(x, kpm).numpy()
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    got = np.asarray(keras_model([x.numpy(), kpm.numpy()]))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        got[0], np.broadcast_to(module.mha.out_proj.bias.detach(), (L, E)), atol=0
    )


def sdpa(**kwargs):
    return lambda q, k, v, *mask: F.scaled_dot_product_attention(q, k, v, *mask, **kwargs)


def qkv(lq=L, lk=L, heads=H, d=16, batch=(B,)):
    return [
        lambda: torch.randn(*batch, heads, lq, d),
        lambda: torch.randn(*batch, heads, lk, d),
        lambda: torch.randn(*batch, heads, lk, d),
    ]


def keep_mask(*shape):
    """SDPA's convention: True takes part. Column 0 stays, so no row is fully masked."""

    def make():
        m = torch.rand(*shape) > 0.3
        m[..., 0] = True
        return m

    return make


SDPA_CASES = {
    "plain": (sdpa(), qkv()),
    "scale": (sdpa(scale=0.3), qkv()),
    "causal": (sdpa(is_causal=True), qkv()),
    "causal-more-keys": (sdpa(is_causal=True), qkv(lq=5, lk=L)),
    "causal-more-queries": (sdpa(is_causal=True), qkv(lq=L, lk=5)),
    "bool-mask": (sdpa(), qkv() + [keep_mask(L, L)]),
    "bool-mask-4d": (sdpa(), qkv() + [keep_mask(B, 1, L, L)]),
    "float-mask": (sdpa(), qkv() + [lambda: torch.randn(B, H, L, L)]),
    "float-mask-and-scale": (sdpa(scale=0.2), qkv() + [lambda: torch.randn(L, L)]),
    "causal-and-mask": (sdpa(is_causal=True), qkv() + [keep_mask(L, L)]),
    "fully-masked-row": (
        sdpa(),
        qkv() + [lambda: torch.ones(L, L, dtype=torch.bool).tril(-1)],  # row 0 attends nothing
    ),
    "3d": (sdpa(), qkv(batch=())),
    "5d": (sdpa(is_causal=True), qkv(batch=(1, 2))),
}


@pytest.mark.parametrize("name", list(SDPA_CASES))
def test_scaled_dot_product_attention(compare, name):
    torch.manual_seed(0)
    fn, makers = SDPA_CASES[name]
    compare(fn, inputs(*makers))


def test_sdpa_aten_flash_form_with_logsumexp(compare):
    torch.manual_seed(0)

    def flash(q, k, v, mask):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, attn_mask=mask, scale=0.3
        )
        return out, lse

    mask = lambda: torch.randn(L, L)  # noqa: E731
    compare(flash, inputs(*qkv(), mask))


def encoder(norm_first, activation, layers=2):
    layer = nn.TransformerEncoderLayer(
        E, H, dim_feedforward=128, batch_first=True, norm_first=norm_first, activation=activation
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class Masked(nn.Module):
    def __init__(self, module, mask=None):
        super().__init__()
        self.module = module
        self.mask = mask

    def forward(self, x, kpm=None):
        return self.module(x, mask=self.mask, src_key_padding_mask=kpm)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder(compare, norm_first, activation):
    torch.manual_seed(0)
    compare(encoder(norm_first, activation), inputs(seq()))


ENCODER_MASKS = {
    "padding": (None, True),
    "causal-float": (nn.Transformer.generate_square_subsequent_mask(L), False),
    "causal-bool": (causal_bool(L, L), False),
    "padding-and-causal": (causal_bool(L, L), True),
}


@pytest.mark.parametrize("name", list(ENCODER_MASKS))
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_transformer_encoder_masks(compare, name, norm_first):
    torch.manual_seed(0)
    mask, padding = ENCODER_MASKS[name]
    makers = [seq()] + ([lambda: padding_mask(B, L)] if padding else [])
    compare(Masked(encoder(norm_first, "gelu"), mask), inputs(*makers))


def test_transformer_encoder_default_nested_tensor(compare):
    """enable_nested_tensor=True (the default) with padding: PyTorch's sparsity fast path is
    off under the tracer, and the mask checks it runs are unused calls."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, 128, batch_first=True)
    model = Masked(nn.TransformerEncoder(layer, 2))
    compare(model, inputs(seq(), lambda: padding_mask(B, L)))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerDecoderLayer(E, H, 128, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, 2)
        self.mask = nn.Transformer.generate_square_subsequent_mask(S)

    def forward(self, tgt, memory):
        return self.decoder(tgt, memory, tgt_mask=self.mask, tgt_is_causal=True)


def test_transformer_decoder_and_transformer(compare):
    """Self- and cross-attention (memory of another length) through the modules."""
    torch.manual_seed(0)
    compare(Decoder(), inputs(seq(length=S), seq()))
    transformer = nn.Transformer(E, H, 2, 2, 128, batch_first=True)
    compare(transformer, inputs(seq(), seq(length=S)))


class FastPath(nn.Module):
    """Calls the fused ops of PyTorch's inference fast path directly (the tracer's function
    mode keeps nn modules off that path, so this is the only way to reach them)."""

    def __init__(self, norm_first=False, use_gelu=False, mask_type=None, layer=True):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(E, H, 128, batch_first=True)
        self.norm_first, self.use_gelu = norm_first, use_gelu
        self.mask_type, self.whole = mask_type, layer

    def forward(self, x, mask=None):
        attn, layer = self.layer.self_attn, self.layer
        weights = [attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias]
        if not self.whole:
            # need_weights=True, average_attn_weights=False
            return torch._native_multi_head_attention(
                x, x, x, E, H, *weights, mask, True, False, self.mask_type
            )
        norms = [layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias]
        ffn = [layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias]
        return torch._transformer_encoder_layer_fwd(
            x, E, H, *weights, self.use_gelu, self.norm_first, layer.norm1.eps, *norms, *ffn,
            mask, self.mask_type,
        )  # fmt: skip


@pytest.mark.parametrize(
    "name, module, makers",
    [
        ("layer", FastPath(), [seq()]),
        ("layer-pre-norm-gelu", FastPath(norm_first=True, use_gelu=True), [seq()]),
        ("layer-padding", FastPath(mask_type=1), [seq(), lambda: padding_mask(B, L)]),
        ("native-mha", FastPath(layer=False), [seq()]),
        (
            "native-mha-src-mask",
            FastPath(layer=False, mask_type=0),
            [seq(), lambda: causal_bool(L, L)],
        ),
        (
            "native-mha-padding",
            FastPath(layer=False, mask_type=1),
            [seq(), lambda: padding_mask(B, L, fully_masked_row=True)],
        ),
    ],
)
def test_fast_path_ops(compare, name, module, makers):
    torch.manual_seed(0)
    compare(module, inputs(*makers))
