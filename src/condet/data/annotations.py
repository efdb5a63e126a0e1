"""The annotation structure every reader returns and every consumer reads.

One :class:`ImageAnnotation` per image (boxes as ``xyxy`` float pixel coordinates, integer labels
indexing :attr:`Annotations.classes`, and per-box flags), collected in an :class:`Annotations`
sequence. VOC, COCO JSON and YOLO readers all produce it; the COCO writer, the torch datasets,
the splits and the metrics all consume it, so a data set in any format flows through the same
code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import overload

import numpy as np

from condet.data.problems import DataProblem
from condet.errors import CondetError


@dataclass
class ImageAnnotation:
    """The objects annotated in one image.

    Attributes:
        image_id: the id of the image in its data set (VOC file stem, COCO image id, YOLO stem).
        image_path: where the image file is.
        width, height: image size in pixels.
        boxes: float32 ``[M, 4]``, ``x1 y1 x2 y2`` in pixels (VOC: as written in the XML).
        labels: int64 ``[M]``, indices into the class names of the owning :class:`Annotations`.
        difficult: bool ``[M]``, VOC's ``difficult`` flag (ignored by VOC AP).
        truncated: bool ``[M]``, VOC's ``truncated`` flag.
        iscrowd: bool ``[M]``, COCO's ``iscrowd`` flag (a box around a crowd of objects).
    """

    image_id: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray = field(default=None)  # type: ignore[assignment]
    truncated: np.ndarray = field(default=None)  # type: ignore[assignment]
    iscrowd: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        count = len(self.boxes)
        if len(self.labels) != count:
            raise ValueError(f"{count} boxes but {len(self.labels)} labels")
        for name in ("difficult", "truncated", "iscrowd"):
            flags = getattr(self, name)
            flags = np.zeros(count, bool) if flags is None else np.asarray(flags, bool).reshape(-1)
            if len(flags) != count:
                raise ValueError(f"{count} boxes but {len(flags)} {name} flags")
            setattr(self, name, flags)

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> ImageAnnotation:
        """The same image with only the objects where ``keep`` (bool ``[M]`` or indices) holds."""
        return replace(
            self,
            boxes=self.boxes[keep],
            labels=self.labels[keep],
            difficult=self.difficult[keep],
            truncated=self.truncated[keep],
            iscrowd=self.iscrowd[keep],
        )


class Annotations(Sequence[ImageAnnotation]):
    """A data set split: a sequence of :class:`ImageAnnotation` plus what is shared by all images.

    Args:
        images: the images, in split order.
        classes: class names; ``labels`` index this list.
        one_based: True when boxes are 1-based inclusive pixel indices (Pascal VOC XML), False
            for continuous coordinates (COCO, YOLO). Converters to continuous coordinates
            subtract 1 from ``x1, y1`` when it is set, as detectron2 does for VOC.
        problems: records skipped while reading (``skip_invalid=True``).
        withheld: class names withheld as unknown (see :mod:`condet.data.splits`).
        source: where the annotations were read from, for messages.
        category_ids: the COCO category id of each class, kept so that writing back to COCO
            JSON preserves them; defaults to 1..C.
    """

    def __init__(
        self,
        images: Iterable[ImageAnnotation],
        classes: Sequence[str],
        *,
        one_based: bool = False,
        problems: Iterable[DataProblem] = (),
        withheld: Iterable[str] = (),
        source: str = "",
        category_ids: Sequence[int] | None = None,
    ) -> None:
        self.images = list(images)
        self.classes = list(classes)
        self.one_based = one_based
        self.problems = list(problems)
        self.withheld = tuple(withheld)
        self.source = source
        self.category_ids = (
            list(range(1, len(self.classes) + 1)) if category_ids is None else list(category_ids)
        )
        if len(self.category_ids) != len(self.classes):
            raise ValueError(f"{len(self.classes)} classes but {len(self.category_ids)} ids")

    @overload
    def __getitem__(self, index: int) -> ImageAnnotation: ...

    @overload
    def __getitem__(self, index: slice) -> Annotations: ...

    def __getitem__(self, index: int | slice) -> ImageAnnotation | Annotations:
        if isinstance(index, slice):
            return self.derive(self.images[index])
        return self.images[index]

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[ImageAnnotation]:
        return iter(self.images)

    def __repr__(self) -> str:
        return (
            f"Annotations({len(self)} images, {self.num_objects} objects, "
            f"{len(self.classes)} classes, source={self.source!r})"
        )

    def derive(self, images: Iterable[ImageAnnotation], **changes: object) -> Annotations:
        """New annotations over ``images`` that share this set's classes and settings."""
        settings: dict[str, object] = {
            "one_based": self.one_based,
            "problems": self.problems,
            "withheld": self.withheld,
            "source": self.source,
            "category_ids": self.category_ids,
        }
        settings.update(changes)
        return Annotations(images, self.classes, **settings)  # type: ignore[arg-type]

    def subset(self, indices: Iterable[int]) -> Annotations:
        """The images at ``indices``, in that order."""
        return self.derive(self.images[i] for i in indices)

    @property
    def num_objects(self) -> int:
        return sum(len(image) for image in self.images)

    def class_ids(self, names: Iterable[str]) -> list[int]:
        """Indices of class ``names``; an unknown name is a :class:`CondetError` listing them."""
        ids = []
        for name in names:
            if name not in self.classes:
                raise CondetError(
                    f"unknown class {name!r}; the classes are: {', '.join(self.classes)}"
                )
            ids.append(self.classes.index(name))
        return ids

    def object_counts(self) -> Counter[str]:
        """Objects per class name, every class present (count 0 included)."""
        return self._count_where(lambda image: np.ones(len(image), bool))

    def difficult_counts(self) -> Counter[str]:
        return self._count_where(lambda image: image.difficult)

    def crowd_counts(self) -> Counter[str]:
        return self._count_where(lambda image: image.iscrowd)

    def _count_where(self, flag_of) -> Counter[str]:
        counts = np.zeros(len(self.classes), np.int64)
        for image in self.images:
            np.add.at(counts, image.labels[flag_of(image)], 1)
        return Counter(dict(zip(self.classes, counts.tolist(), strict=True)))
