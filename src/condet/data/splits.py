"""Label-scarce subsets and withheld (unknown) classes.

Label fractions follow the semi-supervised detection protocol: a deterministic fraction of the
*images* keeps its labels. Subsets are stratified so that every class of the split keeps at
least one image, and for one seed they are nested (the 1% images are among the 10% images), so
a label-fraction curve compares like with like.

A labelled subset can also be named image by image: a file of image ids, one per line, as
VOC's ``ImageSets`` lists them and ``condet select`` writes them (``--labeled-images``). The
rest of the split is then the unlabelled pool.

For open-set evaluation, chosen classes are withheld: their boxes are removed from the training
split, and kept but marked (``Annotations.withheld``) in the test split. Classes with too few
training boxes to learn from can be dropped from both (:func:`rare_classes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.problems import DataError
from condet.errors import CondetError


def label_fraction_indices(annotations: Annotations, fraction: float, seed: int = 0) -> list[int]:
    """Indices (sorted) of ``round(fraction * N)`` images, at least one image per present class.

    Images are drawn in a seeded random order; first, for each class from the rarest, the first
    image holding it (unless one is already chosen), then images in that order until the target
    size. The target can be exceeded when there are more classes than target images.
    """
    if not 0 < fraction <= 1:
        raise CondetError(f"label fraction must be in (0, 1], got {fraction}")
    order = np.random.default_rng(seed).permutation(len(annotations))
    target = max(1, round(fraction * len(annotations)))
    images_of_class: dict[int, list[int]] = {}
    for position, index in enumerate(order):
        for label in np.unique(annotations[index].labels).tolist():
            images_of_class.setdefault(label, []).append(position)
    chosen: set[int] = set()
    for label in sorted(images_of_class, key=lambda lab: (len(images_of_class[lab]), lab)):
        positions = images_of_class[label]
        if not chosen.intersection(positions):
            chosen.add(positions[0])
    for position in range(len(order)):
        if len(chosen) >= target:
            break
        chosen.add(position)
    return sorted(int(order[position]) for position in chosen)


def label_fraction_subset(annotations: Annotations, fraction: float, seed: int = 0) -> Annotations:
    """The images of :func:`label_fraction_indices`, in their original order.

    >>> train = load_voc("BCCD", "train")  # doctest: +SKIP
    >>> ten_percent = label_fraction_subset(train, 0.1, seed=0)  # doctest: +SKIP
    """
    return annotations.subset(label_fraction_indices(annotations, fraction, seed))


def read_image_ids(path: str | Path) -> list[str]:
    """The image ids listed in ``path``, one per line, in file order (blank lines skipped).

    An image id is what the split's reader gives (``ImageAnnotation.image_id``): the VOC id, the
    COCO image id, the YOLO image's stem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "image id file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read the image id file ({error})") from None
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise DataError(path, "no image ids in the file (expected one id per line)")
    duplicated = sorted(image_id for image_id, count in Counter(ids).items() if count > 1)
    if duplicated:
        raise DataError(path, f"image id {duplicated[0]!r} is listed more than once")
    return ids


def indices_of_ids(
    annotations: Annotations, ids: Sequence[str], source: str | Path = "<ids>"
) -> list[int]:
    """Indices (sorted) of the images of ``annotations`` whose id is in ``ids``.

    An id that names no image of the split is a :class:`DataError` naming the id and
    ``source`` (the file the ids came from).
    """
    index_of = {image.image_id: index for index, image in enumerate(annotations)}
    missing = [image_id for image_id in ids if image_id not in index_of]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        where = f" {annotations.source}" if annotations.source else ""
        raise DataError(source, f"image {missing[0]!r}{more} is not in the split{where}")
    return sorted(index_of[image_id] for image_id in ids)


def subset_by_ids(
    annotations: Annotations, ids: Sequence[str], source: str | Path = "<ids>"
) -> Annotations:
    """The images named by ``ids``, in the split's order (see :func:`indices_of_ids`).

    >>> train = load_voc("BCCD", "train")  # doctest: +SKIP
    >>> ids = read_image_ids("runs/select/selected.txt")  # doctest: +SKIP
    >>> labelled = subset_by_ids(train, ids, "runs/select/selected.txt")  # doctest: +SKIP
    """
    return annotations.subset(indices_of_ids(annotations, ids, source))


def labelled_indices(
    annotations: Annotations,
    fraction: float = 1.0,
    ids_file: str | Path | None = None,
    seed: int = 0,
) -> list[int]:
    """Indices (sorted) of the images whose labels a training run uses: those listed in
    ``ids_file`` (``--labeled-images``), else a seeded ``fraction`` (``--label-fraction``), not
    both."""
    if ids_file is None:
        return label_fraction_indices(annotations, fraction, seed)
    if fraction != 1.0:
        raise CondetError(
            f"--label-fraction {fraction:g} and --labeled-images {ids_file} both choose the "
            "labelled images; give one"
        )
    return indices_of_ids(annotations, read_image_ids(ids_file), ids_file)


def labelled_subset(
    annotations: Annotations,
    fraction: float = 1.0,
    ids_file: str | Path | None = None,
    seed: int = 0,
) -> Annotations:
    """The images of :func:`labelled_indices`, in the split's order."""
    return annotations.subset(labelled_indices(annotations, fraction, ids_file, seed))


def withhold_classes(annotations: Annotations, names: Iterable[str]) -> Annotations:
    """The training side of an open-set split: every box of the ``names`` classes removed.

    Class indices are unchanged (the withheld classes stay in ``classes`` and are listed in
    ``withheld``), so training and test splits share one label space.
    """
    names = tuple(names)
    withheld_ids = annotations.class_ids(names)
    images = [image.select(~np.isin(image.labels, withheld_ids)) for image in annotations]
    return annotations.derive(images, withheld=names)


def mark_withheld(annotations: Annotations, names: Iterable[str]) -> Annotations:
    """The test side of an open-set split: all boxes kept, the ``names`` classes marked unknown."""
    names = tuple(names)
    annotations.class_ids(names)
    return annotations.derive(annotations.images, withheld=names)


def ignore_classes(annotations: Annotations, names: Iterable[str]) -> Annotations:
    """The test side of a detector trained without the ``names`` classes: their boxes kept but
    marked difficult, so evaluation neither credits a detection of one nor counts one missed;
    the classes are listed as withheld."""
    names = tuple(names)
    ignored_ids = annotations.class_ids(names)
    images = [
        replace(image, difficult=image.difficult | np.isin(image.labels, ignored_ids))
        for image in annotations
    ]
    return annotations.derive(images, withheld=names)


def known_class_ids(annotations: Annotations) -> list[int]:
    """Indices of the classes that are not withheld."""
    withheld = set(annotations.withheld)
    return [index for index, name in enumerate(annotations.classes) if name not in withheld]


def rare_classes(
    annotations: Annotations, min_objects: int, exclude: Iterable[str] = ()
) -> list[str]:
    """Classes with fewer than ``min_objects`` objects (none included), in class order, except
    the ``exclude``d ones: too few examples to learn, or to estimate a prototype from. Crowd
    boxes do not count: they are not one object, and are never cropped."""
    counts = annotations.object_counts() - annotations.crowd_counts()
    excluded = set(exclude)
    return [
        name for name in annotations.classes if counts[name] < min_objects and name not in excluded
    ]


def drop_classes(annotations: Annotations, names: Iterable[str]) -> Annotations:
    """Every box of the ``names`` classes removed; unlike :func:`withhold_classes`, the classes
    are not marked withheld: they take no part in training or evaluation."""
    dropped_ids = annotations.class_ids(tuple(names))
    return annotations.derive(
        image.select(~np.isin(image.labels, dropped_ids)) for image in annotations
    )


def refuse_shared_images(
    training: Iterable[ImageAnnotation], test: Annotations, remedy: str
) -> None:
    """One line where ``test`` has no image, or shares one with ``training`` (the images a run
    trains on): a COCO JSON has no splits, so ``--split`` and ``--test-split`` of one file name
    the same images, and the scores would be of images the model learnt.

    >>> refuse_shared_images(train, train, "give --test-data")  # doctest: +SKIP
    CondetError: 40 of the 40 test images are also training images (e.g. 000001.jpg): give ...
    """
    if not len(test):
        raise CondetError(f"the test split {test.source} has no images to score on")
    trained = {Path(image.image_path).resolve() for image in training}
    shared = [image for image in test if Path(image.image_path).resolve() in trained]
    if shared:
        raise CondetError(
            f"{len(shared)} of the {len(test)} test images are also training images "
            f"(e.g. {Path(shared[0].image_path).name}): {remedy}"
        )
