"""Transforms of detection items: the image and its target move together."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

PER_BOX_KEYS = ("labels", "area", "iscrowd", "difficult")


def _per_box_tensors(inputs: Any) -> tuple[torch.Tensor, ...]:
    target = inputs[1]
    return tuple(target[key] for key in PER_BOX_KEYS if key in target)


def detection_transforms(train: bool, flip_probability: float = 0.5) -> v2.Compose:
    """The usual detection pipeline: horizontal flip when training, then float images in [0, 1].

    Boxes are flipped with the image because :class:`condet.data.DetectionDataset` gives them as
    ``tv_tensors.BoundingBoxes``; boxes a transform leaves empty are dropped together with every
    per-box entry of the target (labels, area, iscrowd, difficult).
    """
    steps: list[v2.Transform] = []
    if train:
        steps.append(v2.RandomHorizontalFlip(flip_probability))
    steps += [
        v2.ToDtype(torch.float32, scale=True),
        v2.SanitizeBoundingBoxes(labels_getter=_per_box_tensors),
    ]
    return v2.Compose(steps)
