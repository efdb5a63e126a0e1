"""Object crops: every box of a split cut out, squared and cached as one uint8 tensor file.

The contrastive-detection report trains its encoders on 64x64 crops of ground-truth boxes.
Decoding a JPEG per crop per epoch would dominate training on a CPU, so the crops of a split
are cut once, kept in memory, and saved to ``cache_dir``: a second epoch, or a second run, reads
no JPEG.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F
from tqdm.auto import tqdm

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.datasets import continuous_boxes, read_rgb
from condet.data.problems import DataError
from condet.io import atomic_path

logger = logging.getLogger("condet")

_CACHE_FORMAT = 1


def crop_boxes(
    image: torch.Tensor, boxes: torch.Tensor | np.ndarray, size: int, context: float = 0.0
) -> torch.Tensor:
    """Cut ``boxes`` out of ``image`` and resize each to ``size`` x ``size``.

    Args:
        image: uint8 or float ``[C, H, W]``.
        boxes: ``[K, 4]`` xyxy in continuous pixel coordinates.
        size: side of the square output.
        context: margin added on every side, as a fraction of the box's width and height
            (0.1 widens a box by 20%), clipped to the image.

    Returns:
        ``[K, C, size, size]`` of ``image``'s dtype. Boxes are stretched to the square, as the
        report's code does, so a crop keeps all of its object.
    """
    height, width = image.shape[-2:]
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    margin = torch.cat([boxes[:, 2:] - boxes[:, :2]] * 2, dim=1) * context
    expanded = boxes + margin * torch.tensor([-1.0, -1.0, 1.0, 1.0])
    left = expanded[:, 0].floor().clamp(0, width - 1).long()
    top = expanded[:, 1].floor().clamp(0, height - 1).long()
    right = expanded[:, 2].ceil().clamp(1, width).long()
    bottom = expanded[:, 3].ceil().clamp(1, height).long()
    crops = [
        F.resized_crop(
            image,
            int(y0),
            int(x0),
            max(int(y1 - y0), 1),
            max(int(x1 - x0), 1),
            [size, size],
            antialias=True,
        )
        for x0, y0, x1, y1 in zip(left, top, right, bottom, strict=True)
    ]
    if not crops:
        return image.new_zeros((0, image.shape[0], size, size))
    return torch.stack(crops)


class ObjectCropDataset(Dataset):
    """The objects of a split as square crops with their labels.

    Items are ``(crop, label)``: ``crop`` uint8 ``[3, size, size]`` (or ``transform(crop)``),
    ``label`` the class index. The whole split is also available as tensors for batched
    augmentation on an accelerator: :attr:`crops` uint8 ``[N, 3, size, size]`` and
    :attr:`labels`, :attr:`image_indices`, :attr:`boxes`, :attr:`difficult` ``[N]``.

    Args:
        annotations: the split whose boxes are cropped.
        size: side of the square crops (64 in the contrastive-detection report).
        context: margin around each box, as a fraction of its size (see :func:`crop_boxes`).
        include_difficult: crop VOC ``difficult`` objects too (the report's code does).
        include_crowd: crop COCO crowd boxes too (off: a crowd box is not one object).
        cache_dir: folder for the crop file; ``None`` keeps the crops in memory only. The file
            name hashes the images, boxes and settings, so a changed split is never served
            stale crops.
        transform: applied to each crop in ``__getitem__``.
        progress: show a progress bar while cropping.

    >>> train = load_voc("BCCD", "train")  # doctest: +SKIP
    >>> crops = ObjectCropDataset(train, size=64, cache_dir="cache")  # doctest: +SKIP
    >>> crops.crops.shape  # doctest: +SKIP
    torch.Size([2764, 3, 64, 64])
    """

    def __init__(
        self,
        annotations: Annotations,
        size: int = 64,
        context: float = 0.0,
        include_difficult: bool = True,
        include_crowd: bool = False,
        cache_dir: str | Path | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        progress: bool = True,
    ) -> None:
        self.annotations = annotations
        self.size = size
        self.context = context
        self.include_difficult = include_difficult
        self.include_crowd = include_crowd
        self.transform = transform
        self.cache_path = (
            None if cache_dir is None else Path(cache_dir) / f"crops-{self._cache_key()}.pt"
        )
        if self.cache_path is not None and self.cache_path.is_file():
            tensors = torch.load(self.cache_path, weights_only=True)
            logger.info("read %d crops from %s", len(tensors["labels"]), self.cache_path)
        else:
            tensors = self._cut(progress)
            if self.cache_path is not None:
                with atomic_path(self.cache_path) as temporary:
                    torch.save(tensors, temporary)
        self.crops: torch.Tensor = tensors["crops"]
        self.labels: torch.Tensor = tensors["labels"]
        self.image_indices: torch.Tensor = tensors["image_indices"]
        self.boxes: torch.Tensor = tensors["boxes"]
        self.difficult: torch.Tensor = tensors["difficult"]

    @property
    def classes(self) -> list[str]:
        return self.annotations.classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        crop = self.crops[index]
        if self.transform is not None:
            crop = self.transform(crop)
        return crop, int(self.labels[index])

    def _kept(self, image: ImageAnnotation) -> np.ndarray:
        keep = np.ones(len(image), bool)
        if not self.include_difficult:
            keep &= ~image.difficult
        if not self.include_crowd:
            keep &= ~image.iscrowd
        return keep

    def _cache_key(self) -> str:
        digest = hashlib.sha1()
        settings = [
            _CACHE_FORMAT,
            self.size,
            self.context,
            self.include_difficult,
            self.include_crowd,
            self.annotations.one_based,
        ]
        digest.update(json.dumps(settings).encode())
        for image in self.annotations:
            keep = self._kept(image)
            digest.update(str(image.image_path.resolve()).encode())
            digest.update(image.boxes[keep].tobytes())
            digest.update(image.labels[keep].tobytes())
        return digest.hexdigest()[:16]

    def _cut(self, progress: bool) -> dict[str, torch.Tensor]:
        crops, labels, image_indices, boxes, difficult = [], [], [], [], []
        images = tqdm(
            self.annotations,
            desc=f"cropping objects ({self.size}px)",
            unit="img",
            disable=not progress,
            leave=False,
        )
        for index, image in enumerate(images):
            keep = self._kept(image)
            if not keep.any():
                continue
            image_boxes = continuous_boxes(image, self.annotations.one_based)[keep]
            crops.append(crop_boxes(read_rgb(image), image_boxes, self.size, self.context))
            labels.append(torch.from_numpy(image.labels[keep]))
            image_indices.append(torch.full((int(keep.sum()),), index, dtype=torch.int64))
            boxes.append(torch.from_numpy(image_boxes))
            difficult.append(torch.from_numpy(image.difficult[keep]))
        if not crops:
            raise DataError(self.annotations.source, "the split has no objects to crop")
        return {
            "crops": torch.cat(crops),
            "labels": torch.cat(labels),
            "image_indices": torch.cat(image_indices),
            "boxes": torch.cat(boxes),
            "difficult": torch.cat(difficult),
        }
