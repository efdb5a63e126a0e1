"""A torch ``Dataset`` of images and detection targets in torchvision's format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.io import ImageReadMode, decode_image, read_file

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.problems import DataError


def decode_rgb(path: str | Path) -> torch.Tensor:
    """Decode the image file at ``path`` to uint8 ``[3, H, W]`` RGB.

    Raises:
        DataError: the file does not decode (empty, cut short, not an image).
    """
    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except (RuntimeError, OSError) as error:
        # torchvision's messages start with the function and its C++ source file and line
        reason = str(error).split(", ", 2)[-1].split(". ")[0].rstrip(".")
        raise DataError(path, f"cannot decode the image ({reason})") from None


def size_problem(image: ImageAnnotation, pixels: torch.Tensor) -> str | None:
    """What is wrong with the size of ``image``'s decoded ``pixels``, or None when it is the
    size its annotation says."""
    height, width = pixels.shape[-2:]
    if (width, height) == (image.width, image.height):
        return None
    return f"image is {width}x{height} but its annotation says {image.width}x{image.height}"


def read_rgb(image: ImageAnnotation) -> torch.Tensor:
    """Decode an image to uint8 ``[3, H, W]`` RGB and check its size against the annotation."""
    pixels = decode_rgb(image.image_path)
    problem = size_problem(image, pixels)
    if problem is not None:
        raise DataError(image.image_path, problem)
    return pixels


def continuous_boxes(image: ImageAnnotation, one_based: bool) -> np.ndarray:
    """``xyxy`` boxes in continuous pixel coordinates (VOC's 1-based ``x1, y1`` minus 1)."""
    boxes = image.boxes.copy()
    if one_based:
        boxes[:, :2] -= 1
    return boxes


class DetectionDataset(Dataset):
    """Images and targets for torchvision's detection models.

    Each item is ``(image, target)``: ``image`` a uint8 ``tv_tensors.Image`` ``[3, H, W]`` and
    ``target`` a dict with ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY, continuous pixels),
    ``labels`` (int64, class index + 1: torchvision reserves 0 for the background),
    ``image_id`` (the item's index), ``area``, ``iscrowd`` and ``difficult``. Because the
    targets are tv_tensors, ``torchvision.transforms.v2`` transforms move boxes with the image.

    Args:
        annotations: the split to serve.
        transforms: a callable ``(image, target) -> (image, target)``, e.g.
            :func:`condet.data.detection_transforms.detection_transforms`.
        include_crowd: keep COCO crowd boxes (flagged in ``iscrowd``).

    >>> dataset = DetectionDataset(load_voc("BCCD", "train"))  # doctest: +SKIP
    >>> image, target = dataset[0]  # doctest: +SKIP
    """

    def __init__(
        self,
        annotations: Annotations,
        transforms: Callable[[Any, dict[str, Any]], tuple[Any, dict[str, Any]]] | None = None,
        include_crowd: bool = True,
    ) -> None:
        self.annotations = annotations
        self.transforms = transforms
        self.include_crowd = include_crowd

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        image = self.annotations[index]
        if not self.include_crowd:
            image = image.select(~image.iscrowd)
        pixels = tv_tensors.Image(read_rgb(image))
        boxes = torch.from_numpy(continuous_boxes(image, self.annotations.one_based))
        target = {
            "boxes": tv_tensors.BoundingBoxes(
                boxes, format="XYXY", canvas_size=(image.height, image.width)
            ),
            "labels": torch.from_numpy(image.labels + 1),
            "image_id": index,
            "area": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
            "iscrowd": torch.from_numpy(image.iscrowd.astype(np.int64)),
            "difficult": torch.from_numpy(image.difficult),
        }
        if self.transforms is not None:
            pixels, target = self.transforms(pixels, target)
        return pixels, target


def detection_collate(batch: Sequence[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """Collate for detection: images differ in size, so keep lists, as torchvision's models take."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
