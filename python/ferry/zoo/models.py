"""The architectures `ferry zoo` converts: built from their libraries with random weights.

Nothing is downloaded. torchvision models are built with `weights=None`; Hugging Face
`transformers` models from small configs (a few layers, narrow), which exercise the same
code paths as the published sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ferry.zoo.imports import import_torchvision, import_transformers, randomize_statistics


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str  # the heading it is listed under
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[torch.Generator], list[torch.Tensor]]
    image: bool  # inputs and outputs in TensorFlow order (channels last)
    ci: bool = False  # also in the test suite's small subset


def _images(*shape: int) -> Callable[[torch.Generator], list[torch.Tensor]]:
    return lambda g: [torch.randn(*shape, generator=g)]


def _tokens(vocab: int, length: int, mask: bool = False):
    def make(g: torch.Generator) -> list[torch.Tensor]:
        ids = torch.randint(0, vocab, (1, length), generator=g)
        if not mask:
            return [ids]
        keep = torch.ones(1, length, dtype=torch.int64)
        keep[:, length - 3 :] = 0  # padding at the end
        return [ids, keep]

    return make


class _SegmentationOut(torch.nn.Module):
    """torchvision's segmentation models return {"out": logits}; users export the logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def _torchvision(name: str, family: str = "classification", size: int = 224, **kwargs):
    def build() -> torch.nn.Module:
        tv = import_torchvision()
        torch.manual_seed(0)
        group = {"segmentation": tv.models.segmentation, "video": tv.models.video}.get(
            family, tv.models
        )
        model = randomize_statistics(getattr(group, name)(weights=None, **kwargs))
        return _SegmentationOut(model).eval() if family == "segmentation" else model

    shape = (1, 3, 16, size, size) if family == "video" else (1, 3, size, size)
    return ZooModel(name, family, build, _images(*shape), image=True)


class _Output(torch.nn.Module):
    """A transformers model returning one tensor of its output object."""

    def __init__(self, model: torch.nn.Module, field: str, **call: object):
        super().__init__()
        self.model = model
        self.field = field
        self.call = call

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        names = ("input_ids", "attention_mask")
        out = self.model(**dict(zip(names, args)), **self.call)
        return getattr(out, self.field)


class _Features(torch.nn.Module):
    """A transformers model on a float input (pixels, audio): its `field` output."""

    def __init__(self, model: torch.nn.Module, argument: str, field: str):
        super().__init__()
        self.model = model
        self.argument = argument
        self.field = field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(**{self.argument: x}), self.field)


def _hf(name: str, model_class: str, config_class: str, field: str, mask: bool = False, **config):
    vocab = 512

    def build() -> torch.nn.Module:
        transformers = import_transformers()
        torch.manual_seed(0)
        cfg = getattr(transformers, config_class)(**config)
        model = getattr(transformers, model_class)(cfg).eval()
        call = {"use_cache": False} if "use_cache" in cfg.to_dict() else {}
        return _Output(model, field, **call).eval()

    return ZooModel(name, "transformers", build, _tokens(vocab, 32, mask), image=False)


def _hf_features(
    name: str,
    model_class: str,
    config_class: str,
    argument: str,
    field: str,
    shape: tuple[int, ...],
    **config,
):
    def build() -> torch.nn.Module:
        transformers = import_transformers()
        torch.manual_seed(0)
        cfg = getattr(transformers, config_class)(**config)
        # "WhisperModel.encoder": a part of a model the library does not export on its own.
        cls, *part = model_class.split(".")
        model = getattr(transformers, cls)(cfg).eval()
        for name in part:
            model = getattr(model, name)
        return _Features(model, argument, field).eval()

    return ZooModel(name, "transformers", build, _images(*shape), image=False)


_SMALL = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128)
_DECODER = dict(_SMALL, num_key_value_heads=2, vocab_size=512, max_position_embeddings=128)


def zoo() -> list[ZooModel]:
    tv = _torchvision
    return [
        tv("resnet18"),
        tv("resnet50"),
        tv("resnext50_32x4d"),
        tv("wide_resnet50_2"),
        tv("mobilenet_v2"),
        tv("mobilenet_v3_large"),
        tv("efficientnet_b0"),
        tv("efficientnet_v2_s"),
        tv("regnet_y_400mf"),
        tv("regnet_x_400mf"),
        tv("convnext_tiny"),
        tv("densenet121"),
        tv("squeezenet1_1"),
        tv("shufflenet_v2_x1_0"),
        tv("mnasnet1_0"),
        tv("vgg11"),
        tv("alexnet"),
        tv("googlenet", aux_logits=False, init_weights=True),
        tv("inception_v3", size=299, aux_logits=False, init_weights=True),
        tv("vit_b_16"),
        tv("swin_t"),
        tv("swin_v2_t"),
        tv("maxvit_t"),
        tv("fcn_resnet50", "segmentation", size=256, weights_backbone=None, aux_loss=False),
        tv("deeplabv3_resnet50", "segmentation", size=256, weights_backbone=None),
        tv("lraspp_mobilenet_v3_large", "segmentation", size=256, weights_backbone=None),
        tv("r3d_18", "video", size=112),
        tv("mvit_v1_b", "video"),
        _hf(
            "bert",
            "BertModel",
            "BertConfig",
            "last_hidden_state",
            mask=True,
            vocab_size=512,
            **_SMALL,
        ),
        _hf(
            "distilbert",
            "DistilBertModel",
            "DistilBertConfig",
            "last_hidden_state",
            mask=True,
            vocab_size=512,
            n_layers=2,
            dim=64,
            n_heads=4,
            hidden_dim=128,
        ),
        _hf(
            "roberta",
            "RobertaModel",
            "RobertaConfig",
            "last_hidden_state",
            mask=True,
            vocab_size=512,
            **_SMALL,
        ),
        _hf(
            "gpt2",
            "GPT2LMHeadModel",
            "GPT2Config",
            "logits",
            vocab_size=512,
            n_layer=2,
            n_embd=64,
            n_head=4,
            n_positions=128,
        ),
        _hf("llama", "LlamaForCausalLM", "LlamaConfig", "logits", **_DECODER),
        _hf("mistral", "MistralForCausalLM", "MistralConfig", "logits", **_DECODER),
        _hf("qwen2", "Qwen2ForCausalLM", "Qwen2Config", "logits", **_DECODER),
        _hf(
            "t5-encoder",
            "T5EncoderModel",
            "T5Config",
            "last_hidden_state",
            mask=True,
            vocab_size=512,
            d_model=64,
            d_kv=16,
            d_ff=128,
            num_layers=2,
            num_heads=4,
        ),
        _hf_features(
            "vit",
            "ViTModel",
            "ViTConfig",
            "pixel_values",
            "last_hidden_state",
            (1, 3, 64, 64),
            image_size=64,
            patch_size=16,
            **_SMALL,
        ),
        _hf_features(
            "clip-vision",
            "CLIPVisionModel",
            "CLIPVisionConfig",
            "pixel_values",
            "pooler_output",
            (1, 3, 64, 64),
            image_size=64,
            patch_size=16,
            **_SMALL,
        ),
        _hf_features(
            "whisper-encoder",
            "WhisperModel.encoder",
            "WhisperConfig",
            "input_features",
            "last_hidden_state",
            (1, 16, 128),  # 2 x max_source_positions frames
            max_source_positions=64,
            num_mel_bins=16,
            d_model=64,
            encoder_layers=2,
            encoder_attention_heads=4,
            encoder_ffn_dim=128,
            decoder_attention_heads=4,  # the model builds its decoder too
            decoder_layers=1,
        ),
        _hf_features(
            "wav2vec2",
            "Wav2Vec2Model",
            "Wav2Vec2Config",
            "input_values",
            "last_hidden_state",
            (1, 16000),
            **_SMALL,
        ),
    ]


def find(names: list[str]) -> list[ZooModel]:
    models = {m.name: m for m in zoo()}
    unknown = [n for n in names if n not in models]
    if unknown:
        raise KeyError(f"no zoo model named {', '.join(unknown)}; known: {', '.join(models)}")
    return [models[n] for n in names]
