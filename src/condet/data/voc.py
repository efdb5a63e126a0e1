"""Pascal VOC reader: ``Annotations/*.xml`` + ``ImageSets/Main/<split>.txt`` (the writer is in
:mod:`condet.data.writers`).

The layout, for a root such as ``VOCdevkit/VOC2007``::

    root/JPEGImages/<id>.jpg
    root/Annotations/<id>.xml
    root/ImageSets/Main/<split>.txt      one image id per line

Boxes are kept exactly as written in the XML (1-based inclusive pixel indices), with
``difficult`` and ``truncated``; :attr:`Annotations.one_based` records the convention.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.box_checks import box_problem
from condet.data.problems import DataError, ProblemLog

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

_VOC_FOLDER_NAMES = {"VOC2007", "VOC2012"}


@dataclass
class VOCObject:
    name: str
    box: tuple[float, float, float, float]
    difficult: bool
    truncated: bool


@dataclass
class VOCRecord:
    """What one annotation XML says, before class names are resolved and boxes checked."""

    filename: str | None
    width: int
    height: int
    objects: list[VOCObject]


def parse_voc_xml(data: str | bytes, path: str | Path = "<xml>") -> VOCRecord:
    """Parse one VOC annotation XML; any malformation is a :class:`DataError` naming ``path``.

    A missing or zero ``<size>`` is returned as width = height = 0, for the caller to read from
    the image itself (some tools write no size).
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise DataError(path, f"malformed XML ({error})") from None
    if root.tag != "annotation":
        raise DataError(path, f"root element is <{root.tag}>, expected <annotation>")
    width = _int_field(root, "size/width", path, default=0)
    height = _int_field(root, "size/height", path, default=0)
    if width < 0 or height < 0:
        raise DataError(path, f"negative image size {width}x{height}")
    objects = []
    for number, element in enumerate(root.iterfind("object"), start=1):
        name = (element.findtext("name") or "").strip()
        if not name:
            raise DataError(path, f"object {number} has no <name>")
        box_element = element.find("bndbox")
        if box_element is None:
            raise DataError(path, f"object {number} ({name}) has no <bndbox>")
        box = tuple(
            _float_field(box_element, key, path, f"object {number} ({name})")
            for key in ("xmin", "ymin", "xmax", "ymax")
        )
        objects.append(
            VOCObject(
                name=name,
                box=box,  # type: ignore[arg-type]
                difficult=_flag(element, "difficult", path),
                truncated=_flag(element, "truncated", path),
            )
        )
    filename = (root.findtext("filename") or "").strip() or None
    return VOCRecord(filename=filename, width=width, height=height, objects=objects)


def _int_field(root: ET.Element, key: str, path: str | Path, default: int) -> int:
    text = root.findtext(key)
    if text is None or not text.strip():
        return default
    try:
        return int(float(text))
    except ValueError:
        raise DataError(path, f"<{key}> is {text.strip()!r}, not a number") from None


def _float_field(element: ET.Element, key: str, path: str | Path, what: str) -> float:
    text = element.findtext(key)
    if text is None or not text.strip():
        raise DataError(path, f"{what} has no <{key}>")
    try:
        return float(text)
    except ValueError:
        raise DataError(path, f"{what}: <{key}> is {text.strip()!r}, not a number") from None


def _flag(element: ET.Element, key: str, path: str | Path) -> bool:
    text = (element.findtext(key) or "0").strip()
    if text not in {"0", "1"}:
        raise DataError(path, f"<{key}> is {text!r}, expected 0 or 1")
    return text == "1"


def voc_split_names(root: str | Path) -> list[str]:
    """The whole-data-set splits under ``ImageSets/Main`` (``train``, ``val``, ...), sorted.

    A split file lists one image id per line; VOC's per-class files (``aeroplane_train.txt``)
    list an id and a 1 / -1 / 0 flag, so a file is a split when its first line holds one token.
    Telling them apart by content rather than by name keeps splits whose names have an
    underscore (``train_10pct``) and needs no class list. An empty file counts as a split, so
    that reading it says it is empty.
    """
    main = Path(root) / "ImageSets" / "Main"
    return sorted(path.stem for path in main.glob("*.txt") if _lists_image_ids(path))


def _lists_image_ids(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as lines:
        first = next((line for line in lines if line.strip()), "")
    return len(first.split()) <= 1


def read_split_ids(root: str | Path, split: str) -> list[str]:
    """Image ids of ``split``, in file order."""
    split_file = Path(root) / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        available = ", ".join(voc_split_names(root)) or "none"
        raise DataError(split_file, f"split file not found (available splits: {available})")
    ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(split_file, "empty split: the file lists no image ids")
    return ids


def load_voc(
    root: str | Path,
    split: str,
    classes: Sequence[str] | None = None,
    skip_invalid: bool = False,
) -> Annotations:
    """Read a Pascal VOC split.

    Args:
        root: the folder holding ``JPEGImages/``, ``Annotations/``, ``ImageSets/Main/``.
        split: the split file's name without ``.txt`` (``train``, ``val``, ``trainval``, ``test``).
        classes: class names in label order. Defaults to the 20 VOC classes when ``root`` is a
            ``VOC2007`` or ``VOC2012`` folder, else to the sorted names found in all of the
            folder's annotation files, so that every split of a data set gets the same labels
            even when a class is missing from one of them.
        skip_invalid: skip bad records (a malformed or missing XML, a missing image: the image;
            an unknown class or a bad box: the object) and list them in ``.problems`` instead of
            raising :class:`DataError` at the first one.

    >>> voc = load_voc("VOCdevkit/VOC2007", "trainval")  # doctest: +SKIP
    >>> len(voc), voc.classes[:2]  # doctest: +SKIP
    (5011, ['aeroplane', 'bicycle'])
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "VOC root folder not found")
    log = ProblemLog(skip_invalid)
    records: list[tuple[str, Path, VOCRecord]] = []
    for image_id in read_split_ids(root, split):
        xml_path = root / "Annotations" / f"{image_id}.xml"
        try:
            record = parse_voc_xml(xml_path.read_bytes(), xml_path)
        except FileNotFoundError:
            log.report(xml_path, "annotation file not found", "missing annotation")
            continue
        except DataError as error:
            log.report(error.path, error.problem, "malformed annotation")
            continue
        image_path = _image_path(root, image_id, record.filename)
        if image_path is None:
            missing = root / "JPEGImages" / f"{image_id}.jpg"
            log.report(missing, "image file not found", "missing image")
            continue
        if record.width == 0 or record.height == 0:
            record.width, record.height = _image_size(image_path, log)
            if record.width == 0:
                continue
        records.append((image_id, image_path, record))

    if classes is None:
        classes = VOC_CLASSES if root.name in _VOC_FOLDER_NAMES else _class_names_in_folder(root)
    class_index = {name: index for index, name in enumerate(classes)}

    images = []
    for image_id, image_path, record in records:
        xml_path = root / "Annotations" / f"{image_id}.xml"
        kept = []
        for obj in record.objects:
            if obj.name not in class_index:
                known = ", ".join(classes)
                problem = f"unknown class {obj.name!r} (known: {known})"
                log.report(xml_path, problem, "object of an unknown class", unit="object")
                continue
            problem = box_problem(obj.box, record.width, record.height)
            if problem:
                description = f"{obj.name}: {problem.description}"
                log.report(xml_path, description, problem.kind, unit="object")
                continue
            kept.append(obj)
        images.append(
            ImageAnnotation(
                image_id=image_id,
                image_path=image_path,
                width=record.width,
                height=record.height,
                boxes=np.array([obj.box for obj in kept], np.float32),
                labels=[class_index[obj.name] for obj in kept],
                difficult=[obj.difficult for obj in kept],
                truncated=[obj.truncated for obj in kept],
            )
        )
    log.summarize(f"{root} ({split})")
    return Annotations(
        images, classes, one_based=True, problems=log.problems, source=f"{root}:{split}"
    )


def _class_names_in_folder(root: Path) -> list[str]:
    names = set()
    for xml_path in (root / "Annotations").glob("*.xml"):
        try:
            names.update(
                (element.text or "").strip()
                for element in ET.parse(xml_path).iterfind("object/name")
            )
        except ET.ParseError:
            continue  # reported by the split's own pass when the file is in it
    return sorted(name for name in names if name)


def _image_path(root: Path, image_id: str, filename: str | None) -> Path | None:
    candidates = [root / "JPEGImages" / f"{image_id}.jpg"]
    if filename:
        candidates.append(root / "JPEGImages" / Path(filename).name)
    return next((path for path in candidates if path.is_file()), None)


def _image_size(image_path: Path, log: ProblemLog) -> tuple[int, int]:
    """Width and height from the image header (no pixel decoding)."""
    try:
        with Image.open(image_path) as image:
            return image.size
    except OSError as error:
        log.report(image_path, f"unreadable image ({error})", "unreadable image")
        return 0, 0
