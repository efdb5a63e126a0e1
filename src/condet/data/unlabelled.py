"""The unlabelled images of semi-supervised training: those whose labels a label fraction hides,
and images with no annotation at all.

The images ``--label-fraction`` leaves without labels keep their true boxes here, hidden from
training, so that the pseudo-labels a teacher gives them can be scored against them; images
added from elsewhere (a folder, or a data set whose labels are ignored) have none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.images import image_paths
from condet.data.problems import DataError


@dataclass
class UnlabelledPool:
    """The unlabelled images, and for each whether its true boxes are known (kept in
    ``images``, never trained on)."""

    images: Annotations
    known: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def images_without_labels(source: str | Path, split: str | None = None) -> list[ImageAnnotation]:
    """Every image of ``source`` (a folder, searched recursively, or a VOC / COCO / YOLO data
    set whose labels are ignored), without boxes; sizes are read from the files' headers."""
    images = []
    for path in image_paths(source, split):
        try:
            with Image.open(path) as opened:
                width, height = opened.size
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(path, f"cannot read the image ({error})") from None
        images.append(ImageAnnotation(str(path.stem), path, width, height, np.zeros((0, 4)), []))
    return images


def unlabelled_pool(
    train: Annotations, labelled: Sequence[int], extra: Sequence[ImageAnnotation] = ()
) -> UnlabelledPool:
    """The images of ``train`` not at the indices ``labelled`` (true boxes known), then
    ``extra`` (none known)."""
    chosen = set(labelled)
    hidden = [image for index, image in enumerate(train) if index not in chosen]
    known = np.array([True] * len(hidden) + [False] * len(extra), dtype=bool)
    return UnlabelledPool(train.derive([*hidden, *extra]), known)
