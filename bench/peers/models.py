"""The models every converter gets: built from their libraries, with random weights.

This module runs in the project's environment and in every peer's, so it imports nothing from
Ferry: the torchvision shim and the random statistics come from `ferry/zoo/imports.py`, loaded
by file (it depends on torch alone). The weights are drawn once, in the project's environment,
and saved; every converter then loads the same state dict (`load`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]


def _zoo_imports() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ferry_zoo_imports", ROOT / "python" / "ferry" / "zoo" / "imports.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_IMPORTS = _zoo_imports()


@dataclass(frozen=True)
class Spec:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[torch.Generator], list[torch.Tensor]]
    image: bool  # NCHW image input: converters that can take it channels-last do so
    keras_floor: str = ""  # the keras.applications model of the same architecture


class _Field(nn.Module):
    """One output of a model that returns a dict or a ModelOutput (what users export)."""

    def __init__(self, model: nn.Module, field: str):
        super().__init__()
        self.model = model
        self.field = field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[self.field]


class SliceReLU(nn.Module):
    """nobuco's benchmark of an in-place write into a strided slice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x[:, 1:2, 16:25, 8::2] = torch.relu_(x[:, 1:2, 16:25, 8::2])
        return x


class SliceReLUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, kernel_size=3, padding=1)
        self.slice_relu = SliceReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.slice_relu(self.conv(x))


class LSTMTagger(nn.Module):
    """A 2-layer bidirectional LSTM over feature frames, tagging every step."""

    def __init__(self, features: int = 40, hidden: int = 256, tags: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.head(y)


def _torchvision(name: str, segmentation: bool = False, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        tv = _IMPORTS.import_torchvision()
        group = tv.models.segmentation if segmentation else tv.models
        model = getattr(group, name)(weights=None, **kwargs)
        return _Field(model, "out") if segmentation else model

    return build


def _gpt2() -> nn.Module:
    transformers = _IMPORTS.import_transformers()
    config = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, attn_implementation="eager")
    return _Field(transformers.GPT2LMHeadModel(config), "logits")


def _images(size: int) -> Callable[[torch.Generator], list[torch.Tensor]]:
    return lambda g: [torch.randn(1, 3, size, size, generator=g)]


SPECS = [
    Spec(
        "mobilenet_v3_large",
        _torchvision("mobilenet_v3_large"),
        _images(224),
        True,
        "MobileNetV3Large",
    ),
    Spec("resnet50", _torchvision("resnet50"), _images(224), True, "ResNet50"),
    Spec("efficientnet_b0", _torchvision("efficientnet_b0"), _images(224), True, "EfficientNetB0"),
    Spec("convnext_tiny", _torchvision("convnext_tiny"), _images(224), True, "ConvNeXtTiny"),
    Spec(
        "deeplabv3_resnet50",
        _torchvision("deeplabv3_resnet50", segmentation=True, weights_backbone=None),
        _images(256),
        True,
    ),
    Spec("vit_b_16", _torchvision("vit_b_16"), _images(224), True),
    Spec("slice_relu", SliceReLUNet, _images(224), True),
    Spec("lstm_tagger", LSTMTagger, lambda g: [torch.randn(1, 50, 40, generator=g)], False),
    Spec("gpt2", _gpt2, lambda g: [torch.randint(0, 50257, (1, 64), generator=g)], False),
]
QUICK = ["mobilenet_v3_large", "slice_relu"]


def spec(name: str) -> Spec:
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(f"unknown model {name!r}; known: {', '.join(s.name for s in SPECS)}")


def draw(name: str, weights: Path) -> None:
    """Builds the model with random weights (and random batch-norm statistics) and saves its
    state dict: the one set of weights every converter gets."""
    torch.manual_seed(0)
    model = _IMPORTS.randomize_statistics(spec(name).build())
    torch.save(model.state_dict(), weights)


def load(name: str, weights: Path) -> nn.Module:
    model = spec(name).build()
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()


def inputs(name: str, seed: int) -> list[torch.Tensor]:
    return spec(name).inputs(torch.Generator().manual_seed(seed))
