"""Reading a data set of any format: tell VOC, COCO and YOLO apart and call the right reader."""

from __future__ import annotations

from pathlib import Path

from condet.data.annotations import Annotations, DataError
from condet.data.coco import load_coco
from condet.data.voc import load_voc
from condet.data.yolo import load_yolo


def detect_format(path: Path) -> str:
    """``voc`` for a folder with ``ImageSets/``, ``coco`` for ``.json``, ``yolo`` for ``.yaml``."""
    if path.suffix == ".json":
        return "coco"
    if path.suffix in (".yaml", ".yml"):
        return "yolo"
    if (path / "ImageSets").is_dir() or (path / "Annotations").is_dir():
        return "voc"
    raise DataError(
        path,
        "not a data set: expected a VOC folder (with ImageSets/ and Annotations/), "
        "a COCO .json file or a YOLO data.yaml",
    )


def load_annotations(
    path: str | Path,
    split: str | None = None,
    image_root: str | Path | None = None,
    classes: list[str] | None = None,
    skip_invalid: bool = False,
) -> Annotations:
    """Read a VOC folder, a COCO JSON or a YOLO ``data.yaml``, whichever ``path`` is.

    ``split`` is required for VOC and YOLO and ignored for COCO (one JSON is one split).
    """
    path = Path(path)
    data_format = detect_format(path)
    if data_format == "coco":
        return load_coco(path, image_root=image_root, classes=classes, skip_invalid=skip_invalid)
    if split is None:
        raise DataError(
            path, f"a {data_format.upper()} data set needs a split (e.g. --split train)"
        )
    if data_format == "yolo":
        return load_yolo(path, split, classes=classes, skip_invalid=skip_invalid)
    return load_voc(path, split, classes=classes, skip_invalid=skip_invalid)
