"""YOLO (ultralytics / Roboflow export) reader: ``data.yaml`` + one ``.txt`` label file per image.

``data.yaml`` names the image folder of each split (relative to its ``path`` key, itself relative
to the YAML file) and the class names::

    path: .
    train: train/images
    val: valid/images
    names: ['fish', 'jellyfish', ...]

Each image ``.../images/x.jpg`` has its labels in ``.../labels/x.txt``: one object per line,
``class cx cy w h`` normalized to [0, 1] by the image size (a line with more coordinates is a
polygon, boxed by its extent, as ultralytics does). An image without a label file has no objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.box_checks import box_problem, clip_boxes
from condet.data.problems import DataError, ProblemLog
from condet.yaml_files import YamlFileError, read_yaml

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def load_yolo(
    data_yaml: str | Path,
    split: str,
    classes: Sequence[str] | None = None,
    skip_invalid: bool = False,
) -> Annotations:
    """Read split ``split`` (a key of ``data.yaml``: ``train``, ``val``, ``test``).

    Args:
        data_yaml: the data set's ``data.yaml``.
        split: which split to read.
        classes: class names in label order; must equal ``names`` of ``data.yaml`` when given
            (YOLO labels are indices, so the names cannot be reordered here).
        skip_invalid: skip bad records and list them in ``.problems`` instead of raising.

    >>> aquarium = load_yolo("aquarium/data.yaml", "val")  # doctest: +SKIP
    """
    data_yaml = Path(data_yaml)
    config = _read_data_yaml(data_yaml)
    names = _class_names(config, data_yaml)
    if classes is not None and list(classes) != names:
        raise DataError(data_yaml, f"classes {list(classes)} differ from its names {names}")
    image_dir = _split_dir(config, data_yaml, split)
    image_paths = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not image_paths:
        raise DataError(image_dir, f"empty split {split!r}: no images in the folder")
    label_dir = _label_dir(image_dir)
    log = ProblemLog(skip_invalid)
    images = []
    for image_path in image_paths:
        try:
            with Image.open(image_path) as image:
                width, height = image.size
        except OSError as error:
            log.report(image_path, f"unreadable image ({error})", "unreadable image")
            continue
        label_path = label_dir / f"{image_path.stem}.txt"
        try:
            text = label_path.read_text(encoding="utf-8") if label_path.is_file() else ""
            objects = parse_yolo_labels(text, len(names), label_path)
        except UnicodeDecodeError as error:
            log.report(label_path, f"not UTF-8 text ({error.reason})", "malformed annotation")
            continue
        except DataError as error:
            log.report(error.path, error.problem, "malformed annotation")
            continue
        boxes, labels = [], []
        for line_number, label, (cx, cy, w, h) in objects:
            box = (
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            )
            problem = box_problem(box, width, height)
            if problem:
                described = f"line {line_number} ({names[label]}): {problem.description}"
                log.report(label_path, described, problem.kind, unit="object")
                continue
            boxes.append(box)
            labels.append(label)
        images.append(
            ImageAnnotation(
                image_id=image_path.stem,
                image_path=image_path,
                width=width,
                height=height,
                boxes=clip_boxes(np.array(boxes, np.float32).reshape(-1, 4), width, height),
                labels=labels,
            )
        )
    log.summarize(f"{data_yaml} ({split})")
    return Annotations(images, names, problems=log.problems, source=f"{data_yaml}:{split}")


def parse_yolo_labels(
    text: str, num_classes: int, path: str | Path = "<labels>"
) -> list[tuple[int, int, tuple[float, float, float, float]]]:
    """Parse a YOLO label file: ``(line number, class, (cx, cy, w, h))`` per object.

    Polygon lines (``class x1 y1 x2 y2 ...``) are turned into the box around them. A line that
    is not numbers, has a class outside ``0..num_classes-1`` or a negative size is a
    :class:`DataError`.
    """
    objects = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {line_number}"
        if len(fields) < 5 or (len(fields) > 5 and len(fields) % 2 == 0):
            raise DataError(path, f"{where}: expected 'class cx cy w h', got {line.strip()!r}")
        try:
            class_value = float(fields[0])
            values = [float(field) for field in fields[1:]]
        except ValueError:
            raise DataError(path, f"{where}: not numbers: {line.strip()!r}") from None
        if not np.isfinite(values).all():
            raise DataError(path, f"{where}: non-finite coordinate in {line.strip()!r}")
        if not class_value.is_integer() or not 0 <= class_value < num_classes:
            raise DataError(
                path, f"{where}: class {fields[0]} is not in 0..{num_classes - 1} (data.yaml names)"
            )
        if len(values) == 4:
            cx, cy, w, h = values
            if w < 0 or h < 0:
                raise DataError(path, f"{where}: negative box size in {line.strip()!r}")
        else:
            xs, ys = values[0::2], values[1::2]
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            w, h = max(xs) - min(xs), max(ys) - min(ys)
        objects.append((line_number, int(class_value), (cx, cy, w, h)))
    return objects


def _read_data_yaml(data_yaml: Path) -> dict[str, Any]:
    try:
        config = read_yaml(data_yaml, "data.yaml")
    except YamlFileError as error:
        raise DataError(error.path, error.problem) from None
    if not isinstance(config, dict):
        raise DataError(data_yaml, "expected a mapping with 'names' and split folders")
    return config


def _class_names(config: dict[str, Any], data_yaml: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        names = [names[index] for index in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(data_yaml, "'names' must be a non-empty list of class names")
    if "nc" in config and config["nc"] != len(names):
        raise DataError(data_yaml, f"nc is {config['nc']} but {len(names)} names are listed")
    if len(set(names)) != len(names):
        raise DataError(data_yaml, "'names' lists a class twice")
    return names


def yolo_split_names(data_yaml: str | Path) -> list[str]:
    """The splits ``data.yaml`` names a folder for, among ``train``, ``val`` and ``test``."""
    return _split_names(_read_data_yaml(Path(data_yaml)))


def _split_names(config: dict[str, Any]) -> list[str]:
    return [key for key in ("train", "val", "test") if isinstance(config.get(key), str)]


def _split_dir(config: dict[str, Any], data_yaml: Path, split: str) -> Path:
    splits = _split_names(config)
    if split not in splits:
        raise DataError(data_yaml, f"no split {split!r} (splits: {', '.join(splits) or 'none'})")
    root = data_yaml.parent / str(config.get("path") or ".")
    image_dir = root / config[split]
    if not image_dir.is_dir():
        raise DataError(image_dir, f"image folder of split {split!r} not found")
    return image_dir


def _label_dir(image_dir: Path) -> Path:
    """``.../images/...`` -> ``.../labels/...`` (the last ``images`` part), as ultralytics does."""
    parts = list(image_dir.parts)
    if "images" not in parts:
        return image_dir
    index = len(parts) - 1 - parts[::-1].index("images")
    parts[index] = "labels"
    return Path(*parts)
