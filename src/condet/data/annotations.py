"""The annotation structure every reader returns and every consumer reads.

One :class:`ImageAnnotation` per image (boxes as ``xyxy`` float pixel coordinates, integer labels
indexing :attr:`Annotations.classes`, and per-box flags), collected in an :class:`Annotations`
sequence. VOC, COCO JSON and YOLO readers all produce it; the COCO writer, the torch datasets,
the splits and the metrics all consume it, so a data set in any format flows through the same
code.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, NamedTuple, overload

import numpy as np

from condet.errors import CondetError

logger = logging.getLogger("condet")

# Coordinates that overshoot the image by less than this many pixels are rounding noise of
# normalised or float formats (YOLO, COCO); they are clipped instead of reported.
EDGE_TOLERANCE_PX = 1.0


class DataError(CondetError):
    """A problem in a data set file. The message names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# What a skipped record was, singular -> plural, for the summaries that count them by kind.
PROBLEM_KINDS: dict[str, str] = {
    "missing annotation": "missing annotations",
    "malformed annotation": "malformed annotations",
    "missing image": "missing images",
    "unreadable image": "unreadable images",
    "image size mismatch": "image size mismatches",
    "invalid image entry": "invalid image entries",
    "duplicate image": "duplicate images",
    "object of an unknown class": "objects of unknown classes",
    "degenerate box": "degenerate boxes",
    "box outside the image": "boxes outside the image",
    "non-finite box": "non-finite boxes",
    "invalid record": "invalid records",
}


@dataclass(frozen=True)
class DataProblem:
    """A record a reader skipped because the caller asked it to (``skip_invalid=True``).

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``unit`` says what was skipped for it: the whole
    ``image`` (its annotation or image file is unusable) or one ``object`` of it.
    """

    path: str
    problem: str
    kind: str = "invalid record"
    unit: Literal["image", "object"] = "image"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


# Set while a caller that reports the problems itself (condet data check, the training
# commands) reads data, so that the readers' own one-line warnings do not repeat it.
_warnings_off: ContextVar[bool] = ContextVar("condet_problem_warnings_off", default=False)


@contextmanager
def problem_warnings_off() -> Iterator[None]:
    """Readers called inside this block do not log their summary of skipped records."""
    token = _warnings_off.set(True)
    try:
        yield
    finally:
        _warnings_off.reset(token)


class ProblemLog:
    """Raises on the first problem, or, when skipping is allowed, records every problem."""

    def __init__(self, skip_invalid: bool) -> None:
        self.skip_invalid = skip_invalid
        self.problems: list[DataProblem] = []

    def report(
        self,
        path: str | Path,
        problem: str,
        kind: str,
        unit: Literal["image", "object"] = "image",
    ) -> None:
        if kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown kind of data problem {kind!r}")
        if not self.skip_invalid:
            raise DataError(path, problem)
        self.problems.append(DataProblem(str(path), problem, kind, unit))

    def summarize(self, source: str | Path) -> None:
        if self.problems and not _warnings_off.get():
            logger.warning(
                "%s: skipped %d invalid record(s); the first: %s",
                source,
                len(self.problems),
                self.problems[0],
            )


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


class BoxProblem(NamedTuple):
    """What is wrong with a box: its kind (a key of :data:`PROBLEM_KINDS`) and a description."""

    kind: str
    description: str


def box_problem(box: Sequence[float], width: float, height: float) -> BoxProblem | None:
    """What is wrong with an ``xyxy`` box in a ``width`` x ``height`` image, or None.

    VOC boxes are 1-based inclusive pixel indices, so ``x2 == width`` is the last pixel column;
    continuous boxes also end at ``width``. Either way a coordinate beyond the image by more than
    :data:`EDGE_TOLERANCE_PX` is an error, as is a box with ``x2 <= x1`` or ``y2 <= y1``.
    """
    x1, y1, x2, y2 = (float(value) for value in box)
    shown = f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]"
    if not all(np.isfinite([x1, y1, x2, y2])):
        return BoxProblem("non-finite box", f"box {shown} has a non-finite coordinate")
    if x2 <= x1 or y2 <= y1:
        return BoxProblem(
            "degenerate box", f"degenerate box {shown} (xmax <= xmin or ymax <= ymin)"
        )
    tolerance = EDGE_TOLERANCE_PX
    beyond_edges = x1 < -tolerance or y1 < -tolerance
    beyond_edges |= x2 > width + tolerance or y2 > height + tolerance
    if beyond_edges or x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
        return BoxProblem(
            "box outside the image", f"box {shown} lies outside the {width:g}x{height:g} image"
        )
    return None


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes clipped to the image, for coordinates within the rounding tolerance outside it."""
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    return clipped
