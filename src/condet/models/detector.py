"""Faster R-CNN with a feature pyramid on any condet backbone.

Small builders, composed as torchvision composes its detectors:

- :func:`pyramid_stages` finds, by one probing forward pass, the last layer of each stride
  (4, 8, 16, 32) in a backbone's body, whatever its family;
- :func:`freeze_stages` and :func:`freeze_batchnorm` set what trains;
- :func:`backbone_with_fpn` wraps the body in torchvision's ``BackboneWithFPN``;
- :func:`build_detector` puts a torchvision ``FasterRCNN`` on top.

>>> detector = build_detector(num_classes=3, backbone="resnet18", weights="random")
>>> detector.roi_heads.box_predictor.cls_score.out_features  # 3 classes and the background
4
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from condet.config.detect import DETECT_RECIPES, REFERENCE_SIZES
from condet.models.backbones import Backbone, BackboneError, build_backbone, input_normalization
from condet.models.float32_heads import Float32BoxPredictor, Float32RPNHead
from condet.models.frozen_norm import FrozenBatchNorm2d
from condet.models.roi_align import MultiScaleRoIAlign

PYRAMID_STRIDES = (4, 8, 16, 32)
# detect-train's sizes on a CPU: build_detector's defaults
_CPU_RECIPE = DETECT_RECIPES["cpu"]


@dataclass(frozen=True)
class Stage:
    """The body child ending a pyramid level: its name, stride and channels."""

    name: str
    stride: int
    channels: int


def pyramid_stages(backbone: Backbone, strides: tuple[int, ...] = PYRAMID_STRIDES) -> list[Stage]:
    """The last child of ``backbone.body`` at each stride, found by one forward pass."""
    children = list(backbone.body.named_children())
    if not children:
        raise BackboneError(f"{backbone.name} has no sequential stages to build a pyramid on")
    size = 64
    features = torch.zeros(1, 3, size, size)
    last_at_stride: dict[int, Stage] = {}
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        for name, child in children:
            features = child(features)
            stride = size // features.shape[-1]
            last_at_stride[stride] = Stage(name, stride, features.shape[1])
    backbone.train(was_training)
    missing = [s for s in strides if s not in last_at_stride]
    if missing:
        raise BackboneError(f"{backbone.name} has no layer at stride {missing}")
    return [last_at_stride[s] for s in strides]


def freeze_stages(backbone: Backbone, stages: list[Stage], trainable: int) -> None:
    """Train only the last ``trainable`` of: the stem, then each pyramid stage (0..5).

    As torchvision's ``trainable_backbone_layers``: 5 trains everything, 3 (its default with
    pretrained weights) freezes the stem and the first stage, 0 freezes the whole backbone.
    """
    if not 0 <= trainable <= len(stages) + 1:
        raise ValueError(f"trainable stages must be in 0..{len(stages) + 1}, got {trainable}")
    names = [name for name, _ in backbone.body.named_children()]
    ends = [names.index(stage.name) for stage in stages]
    groups = [names[: ends[0]]] + [
        names[start + 1 : end + 1]
        for start, end in zip([ends[0] - 1, *ends[:-1]], ends, strict=True)
    ]
    frozen = {name for group in groups[: len(groups) - trainable] for name in group}
    for name, child in backbone.body.named_children():
        child.requires_grad_(name not in frozen)


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Every ``BatchNorm2d`` replaced by a :class:`~condet.models.frozen_norm.FrozenBatchNorm2d`
    with its statistics.

    What torchvision's detectors do with pretrained backbones: detection batches are too small
    for BatchNorm to estimate statistics.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def backbone_with_fpn(
    backbone: Backbone, stages: list[Stage] | None = None, out_channels: int = 256
) -> BackboneWithFPN:
    """torchvision's ``BackboneWithFPN`` on the pyramid stages of ``backbone``."""
    stages = stages or pyramid_stages(backbone)
    return BackboneWithFPN(
        backbone.body,
        return_layers={stage.name: str(index) for index, stage in enumerate(stages)},
        in_channels_list=[stage.channels for stage in stages],
        out_channels=out_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def build_detector(
    *,
    num_classes: int,
    backbone: str = "efficientnet_lite0",
    weights: str | Path = "imagenet",
    trainable_stages: int | None = None,
    norm: Literal["auto", "frozen", "batchnorm"] = "auto",
    class_agnostic: bool = False,
    min_size: int = _CPU_RECIPE["min_size"],
    max_size: int = _CPU_RECIPE["max_size"],
    smallest_stride: int = _CPU_RECIPE["smallest_stride"],
    fpn_channels: int = _CPU_RECIPE["fpn_channels"],
    proposals: int = _CPU_RECIPE["proposals"],
    roi_samples: int = _CPU_RECIPE["roi_samples"],
    detections_per_image: int = 100,
) -> FasterRCNN:
    """Faster R-CNN + FPN on ``backbone``.

    Keyword-only, as torchvision's builders; the defaults are ``condet detect-train``'s on a
    CPU: its default backbone and weights, at the sizes of its ``cpu`` recipe
    (:data:`~condet.config.detect.DETECT_RECIPES`).

    Args:
        num_classes: object classes (the background is added here); ignored when
            ``class_agnostic``, which detects one class, "object".
        backbone: a name of :data:`condet.models.backbones.BACKBONES`.
        weights: backbone weights (``random``, ``imagenet``, a file or a pretrain run folder).
        trainable_stages: see :func:`freeze_stages`; None: 3 for pretrained weights (the stem
            and the stride-4 stage frozen, as torchvision does), 5 (all) from random ones.
        norm: ``frozen`` (FrozenBatchNorm2d), ``batchnorm`` (trained BatchNorm) or ``auto``:
            frozen for pretrained weights, trained BatchNorm from random weights, which have no
            statistics worth freezing.
        min_size, max_size: images are resized so their short side is ``min_size`` and their
            long side at most ``max_size``.
        smallest_stride: the finest pyramid level (4, or 8 to skip the costliest level).
        fpn_channels: width of the pyramid.
        proposals: region proposals kept per image after NMS (twice as many in training).
        roi_samples: proposals sampled per image to train the box head.

    torchvision's sizes (stride 4, 256 channels, 1000 / 2000 proposals, 512 samples: the
    ``gpu`` recipe's) suit a GPU; on a CPU the ``cpu`` recipe's train 2.4 times as many images
    a second at the same BCCD AP50 (docs/results.md, "The CPU detector recipe").
    """
    network = build_backbone(backbone, weights)
    pretrained = str(weights) != "random"
    if trainable_stages is None:
        trainable_stages = 3 if pretrained else 5
    if norm == "frozen" or (norm == "auto" and pretrained):
        freeze_batchnorm(network)
    if smallest_stride not in PYRAMID_STRIDES[:-1]:
        raise ValueError(f"smallest_stride must be one of 4, 8, 16, got {smallest_stride}")
    all_stages = pyramid_stages(network)
    freeze_stages(network, all_stages, trainable_stages)
    stages = [stage for stage in all_stages if stage.stride >= smallest_stride]
    levels = len(stages) + 1  # and LastLevelMaxPool's
    anchors = AnchorGenerator(
        sizes=tuple((32 * 2**level,) for level in range(levels)),
        aspect_ratios=((0.5, 1.0, 2.0),) * levels,
    )
    mean, std = input_normalization(backbone)
    classes = 2 if class_agnostic else num_classes + 1
    return FasterRCNN(
        backbone_with_fpn(network, stages, fpn_channels),
        min_size=min_size,
        max_size=max_size,
        image_mean=list(mean),
        image_std=list(std),
        rpn_anchor_generator=anchors,
        # torchvision's default pooler (levels "0".."3" where present, 7x7, 2 points a bin side)
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=7, sampling_ratio=2),
        rpn_head=Float32RPNHead(fpn_channels, anchors.num_anchors_per_location()[0]),
        box_predictor=Float32BoxPredictor(1024, classes),  # 1024: torchvision's box head width
        rpn_pre_nms_top_n_train=2 * proposals,
        rpn_post_nms_top_n_train=2 * proposals,
        rpn_pre_nms_top_n_test=proposals,
        rpn_post_nms_top_n_test=proposals,
        box_batch_size_per_image=roi_samples,
        box_detections_per_img=detections_per_image,
    )


# What a saved config without one of these keys was built with: build_detector's defaults
# before they became detect-train's (random weights, torchvision's reference sizes).
SAVED_BEFORE: dict[str, Any] = {
    "weights": "random",
    "trainable_stages": None,
    "norm": "auto",
    "class_agnostic": False,
    **REFERENCE_SIZES,
}
DETECTOR_KEYS = (
    "backbone",
    "weights",
    "trainable_stages",
    "norm",
    "class_agnostic",
    "min_size",
    "max_size",
    "smallest_stride",
    "fpn_channels",
    "proposals",
    "roi_samples",
)


def detector_from_config(config: Mapping[str, Any], num_classes: int) -> FasterRCNN:
    """:func:`build_detector` from a saved or command-line configuration.

    Training and loading go through this one function, so a checkpoint always rebuilds the
    network it was trained as. Keys other than :data:`DETECTOR_KEYS` are ignored; a key
    absent from ``config`` (a detector saved before the option existed) takes the value
    :data:`SAVED_BEFORE` says such a detector was built with.
    """
    arguments = {key: config.get(key, SAVED_BEFORE.get(key)) for key in DETECTOR_KEYS}
    return build_detector(num_classes=num_classes, **arguments)
