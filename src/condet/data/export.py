"""Annotations written as a data set that labelling tools import and condet reads back.

``condet predict --format voc|coco|yolo`` turns a detector's boxes into pre-labels a person
corrects in CVAT, Label Studio or Roboflow, then trains on. Each format is the folder those
tools (and :func:`condet.data.load_annotations`) expect, the images linked or copied into it:

- ``voc``: ``JPEGImages/``, ``Annotations/<id>.xml`` (1-based whole-pixel corners, as the VOC
  devkit writes them) and ``ImageSets/Main/<split>.txt``;
- ``coco``: ``images/`` and ``annotations.json`` (``file_name`` relative to ``images/``);
- ``yolo``: ``images/<split>/``, ``labels/<split>/<id>.txt`` (class, centre, size, normalised)
  and ``data.yaml``.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.writers import write_coco, write_voc_xml
from condet.errors import CondetError
from condet.io import write_text_atomic

DATASET_FORMATS = ("voc", "coco", "yolo")


def write_dataset(
    annotations: Annotations, out: str | Path, data_format: str, split: str = "train"
) -> Path:
    """Write ``annotations`` (continuous pixel coordinates) with their images into ``out`` as
    a ``data_format`` data set; the path to give condet (the folder, the JSON or the YAML).

    >>> write_dataset(predicted, "prelabels", "yolo")  # doctest: +SKIP
    PosixPath('prelabels/data.yaml')
    """
    if data_format not in DATASET_FORMATS:
        raise CondetError(f"unknown format {data_format!r}: use {', '.join(DATASET_FORMATS)}")
    if annotations.one_based:
        raise ValueError("write_dataset takes continuous coordinates (one_based=False)")
    # VOC and YOLO name an image's annotation file by its stem: a.jpg and a.png would share one
    key = (lambda path: path.name) if data_format == "coco" else (lambda path: path.stem)
    repeated = [
        name for name, n in Counter(key(i.image_path) for i in annotations).items() if n > 1
    ]
    if repeated:
        raise CondetError(
            f"two images are named {repeated[0]}: a {data_format} data set needs distinct file "
            "names; predict the folders into separate --out folders"
        )
    out = Path(out)
    if data_format == "voc":
        return _write_voc(annotations, out, split)
    if data_format == "coco":
        return _write_coco(annotations, out)
    return _write_yolo(annotations, out, split)


def _link_or_copy(source: Path, target: Path) -> Path:
    """``source`` at ``target``: a hard link where the file system allows, else a copy; nothing
    to do where ``target`` is ``source`` (pre-labels written into the folder of their images)."""
    if target.exists() and os.path.samefile(source, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def _moved(image: ImageAnnotation, path: Path) -> ImageAnnotation:
    return ImageAnnotation(
        path.stem, path, image.width, image.height, image.boxes, image.labels, image.difficult
    )


def _write_voc(annotations: Annotations, out: Path, split: str) -> Path:
    ids = []
    for image in annotations:
        path = _link_or_copy(image.image_path, out / "JPEGImages" / image.image_path.name)
        corners = np.round(image.boxes).astype(np.float32)
        # at least two pixels wide and high, so that the 1-based corners below differ: readers
        # (condet's among them) refuse xmin == xmax as a degenerate box
        size = np.array([image.width, image.height], dtype=np.float32)
        corners[:, 2:] = np.minimum(np.maximum(corners[:, 2:], corners[:, :2] + 2), size)
        corners[:, :2] = np.maximum(np.minimum(corners[:, :2], corners[:, 2:] - 2), 0)
        corners[:, :2] += 1  # VOC counts pixels from 1, its corners inclusive
        moved = _moved(image, path)
        moved.boxes = corners
        xml = write_voc_xml(moved, annotations.classes)
        write_text_atomic(out / "Annotations" / f"{path.stem}.xml", xml.decode("utf-8"))
        ids.append(path.stem)
    write_text_atomic(out / "ImageSets" / "Main" / f"{split}.txt", "".join(f"{i}\n" for i in ids))
    return out


def _write_coco(annotations: Annotations, out: Path) -> Path:
    images = [
        _moved(image, _link_or_copy(image.image_path, out / "images" / image.image_path.name))
        for image in annotations
    ]
    return write_coco(annotations.derive(images), out / "annotations.json")


def _write_yolo(annotations: Annotations, out: Path, split: str) -> Path:
    for image in annotations:
        path = _link_or_copy(image.image_path, out / "images" / split / image.image_path.name)
        size = np.array([image.width, image.height] * 2, dtype=np.float64)
        normalised = image.boxes / size
        centres = (normalised[:, :2] + normalised[:, 2:]) / 2
        sides = normalised[:, 2:] - normalised[:, :2]
        lines = [
            f"{label} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"
            for label, (cx, cy), (w, h) in zip(image.labels, centres, sides, strict=True)
        ]
        write_text_atomic(out / "labels" / split / f"{path.stem}.txt", "".join(lines))
    config = {"path": ".", split: f"images/{split}", "names": list(annotations.classes)}
    config["nc"] = len(annotations.classes)
    return write_text_atomic(out / "data.yaml", yaml.safe_dump(config, sort_keys=False))
