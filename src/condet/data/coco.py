"""COCO JSON reader (the writer is in :mod:`condet.data.writers`).

COCO boxes are ``[x, y, width, height]`` in continuous pixel coordinates; condet keeps
``[x1, y1, x2, y2]``. Crowd annotations (``iscrowd: 1``) are kept and flagged, as VOC's
``difficult`` boxes are, so evaluation can ignore them the way the official tools do. Images
with no annotations are kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.box_checks import box_problem, clip_boxes
from condet.data.problems import DataError, ProblemLog


def load_coco(
    json_path: str | Path,
    image_root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    skip_invalid: bool = False,
) -> Annotations:
    """Read a COCO instances JSON.

    Args:
        json_path: the ``instances_*.json`` file.
        image_root: the folder the images' ``file_name`` are relative to. Defaults to the
            first that holds the first image of: the JSON's folder, its ``images/`` subfolder,
            and for COCO's layout (``annotations/instances_train2017.json``) ``train2017/`` and
            ``images/train2017/`` beside ``annotations/``.
        classes: category names in label order; defaults to all categories in id order.
        skip_invalid: skip bad records (an invalid image entry or a missing image file: the
            image; a bad annotation: the object) and list them in ``.problems`` instead of
            raising.

    >>> coco = load_coco("coco128/annotations/instances_train2017.json",
    ...                  image_root="coco128/images/train2017")  # doctest: +SKIP
    """
    json_path = Path(json_path)
    try:
        text = json_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(json_path, "COCO JSON file not found") from None
    except UnicodeDecodeError as error:
        raise DataError(json_path, f"not UTF-8 text ({error.reason})") from None
    return parse_coco_json(
        text,
        json_path,
        image_root=image_root,
        classes=classes,
        skip_invalid=skip_invalid,
        check_images=True,
    )


def parse_coco_json(
    text: str,
    json_path: str | Path = "<json>",
    image_root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    skip_invalid: bool = False,
    check_images: bool = False,
) -> Annotations:
    """:func:`load_coco` on JSON text already read; ``json_path`` is used in messages.

    ``check_images``: an image whose file is missing is a problem (skipped with
    ``skip_invalid``), as :func:`load_coco` has it; off by default, for JSON text parsed
    without its images (tests, fuzzing). Only existence is checked: nothing is decoded.
    """
    json_path = Path(json_path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(json_path, f"malformed JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(json_path, "not a COCO instances file: no 'images' list")
    categories = _categories(document.get("categories"), json_path)
    if classes is None:
        classes = [name for _, name in categories]
    class_index = {name: index for index, name in enumerate(classes)}
    label_of_category = {cid: class_index.get(name) for cid, name in categories}
    log = ProblemLog(skip_invalid)

    images: dict[Any, dict[str, Any]] = {}
    for number, entry in enumerate(document["images"], start=1):
        problem = _image_entry_problem(entry)
        if problem:
            log.report(json_path, f"images[{number}]: {problem}", "invalid image entry")
            continue
        if entry["id"] in images:
            duplicate = f"images[{number}]: duplicate image id {entry['id']!r}"
            log.report(json_path, duplicate, "duplicate image")
            continue
        images[entry["id"]] = {
            "entry": entry,
            "boxes": [],
            "labels": [],
            "crowd": [],
            "difficult": [],
            "truncated": [],
        }

    annotations = document.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(json_path, "'annotations' is not a list")
    for number, ann in enumerate(annotations, start=1):
        where = f"annotations[{number}]"
        malformed = None
        if not isinstance(ann, dict):
            malformed = f"{where} is not an object"
        elif (image := images.get(_hashable(ann.get("image_id")))) is None:
            malformed = f"{where}: unknown image_id {ann.get('image_id')!r}"
        elif (category := _hashable(ann.get("category_id"))) not in label_of_category:
            malformed = f"{where}: unknown category_id {ann.get('category_id')!r}"
        elif not _is_number_list(ann.get("bbox"), 4):
            malformed = f"{where}: 'bbox' is not a list of 4 numbers: {ann.get('bbox')!r}"
        if malformed:
            log.report(json_path, malformed, "malformed annotation", unit="object")
            continue
        label = label_of_category[category]
        if label is None:
            name = dict(categories)[category]
            unrequested = f"{where}: class {name!r} is not among the requested classes"
            log.report(json_path, unrequested, "object of an unknown class", unit="object")
            continue
        x, y, w, h = (float(value) for value in ann["bbox"])
        box = (x, y, x + w, y + h)
        entry = image["entry"]
        problem = box_problem(box, entry["width"], entry["height"])
        if problem:
            described = f"{where} (image {entry['file_name']}): {problem.description}"
            log.report(json_path, described, problem.kind, unit="object")
            continue
        image["boxes"].append(box)
        image["labels"].append(label)
        image["crowd"].append(bool(ann.get("iscrowd", 0)))
        image["difficult"].append(bool(ann.get("difficult", 0)))
        image["truncated"].append(bool(ann.get("truncated", 0)))

    image_root = _image_root(json_path, image_root, [img["entry"] for img in images.values()])
    result = []
    for image in images.values():
        entry = image["entry"]
        image_path = image_root / entry["file_name"]
        if check_images and not image_path.is_file():
            log.report(image_path, "image file not found", "missing image")
            continue
        width, height = int(entry["width"]), int(entry["height"])
        boxes = np.array(image["boxes"], np.float32).reshape(-1, 4)
        result.append(
            ImageAnnotation(
                image_id=str(entry["id"]),
                image_path=image_path,
                width=width,
                height=height,
                boxes=clip_boxes(boxes, width, height),
                labels=image["labels"],
                difficult=image["difficult"],
                truncated=image["truncated"],
                iscrowd=image["crowd"],
            )
        )
    log.summarize(json_path)
    category_ids = {name: cid for cid, name in categories}
    return Annotations(
        result,
        classes,
        problems=log.problems,
        source=str(json_path),
        category_ids=[category_ids.get(name, index + 1) for index, name in enumerate(classes)],
    )


def _hashable(value: Any) -> Any:
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _is_number_list(value: Any, length: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == length
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
    )


def _categories(value: Any, json_path: Path) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        raise DataError(json_path, "no 'categories' list")
    categories = {}
    for number, category in enumerate(value, start=1):
        if (
            not isinstance(category, dict)
            or _hashable(category.get("id")) is None
            or not isinstance(category.get("name"), str)
        ):
            raise DataError(json_path, f"categories[{number}] needs an 'id' and a 'name'")
        if category["id"] in categories:
            raise DataError(json_path, f"duplicate category id {category['id']!r}")
        categories[category["id"]] = category["name"]
    names = list(categories.values())
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(json_path, f"duplicate category names: {', '.join(duplicates)}")
    # Integer ids in numeric order (COCO's own), then any string ids.
    return sorted(categories.items(), key=lambda item: (isinstance(item[0], str), item[0]))


def _image_entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if _hashable(entry.get("id")) is None:
        return "no integer or string 'id'"
    if not isinstance(entry.get("file_name"), str) or not entry["file_name"]:
        return "no 'file_name'"
    for key in ("width", "height"):
        value = entry.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 1:
            return f"'{key}' is {value!r}, expected a positive number"
        if not math.isfinite(value) or value != int(value):
            return f"'{key}' is {value!r}, expected a whole number"
    return None


def _image_root(
    json_path: Path, image_root: str | Path | None, entries: list[dict[str, Any]]
) -> Path:
    if image_root is not None:
        return Path(image_root)
    # beside the JSON, or COCO's own layout: annotations/instances_train2017.json with the
    # images in train2017/ or images/train2017/ beside annotations/
    split = json_path.stem.split("_", 1)[-1]
    candidates = [
        json_path.parent,
        json_path.parent / "images",
        json_path.parent.parent / split,
        json_path.parent.parent / "images" / split,
    ]
    if entries:
        for candidate in candidates:
            if (candidate / entries[0]["file_name"]).is_file():
                return candidate
    return candidates[0]
