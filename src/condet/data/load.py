"""Reading a data set of any format: tell VOC, COCO and YOLO apart and call the right reader;
and :class:`DataSets`, the data sets one command reads, with what their readers skipped.

A command reads every data set it uses through one :class:`DataSets`, then reports what was
skipped once (:func:`~condet.data.problems.report_skipped`)::

    data = DataSets(strict=config.strict)
    train = data.load(config.data, "train")
    test = data.load(config.data, "test", classes=train.classes)
    results["skipped"] = data.report(run)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from condet.data.annotations import Annotations
from condet.data.cache import default_cache_dir
from condet.data.coco import load_coco
from condet.data.decode_check import DecodeCheck
from condet.data.problems import DataError, problem_warnings_off, report_skipped
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


class DataSets:
    """The data sets one command read, and what their readers and the decode check skipped.

    Args:
        strict: :meth:`report` raises at the first problem instead of reporting the skips.
        cache_dir: where the decode check keeps what it found (default: the cache folder of
            :func:`~condet.data.cache.default_cache_dir`).
        progress: show a progress bar while images are decoded for the first time.
    """

    def __init__(
        self, strict: bool = False, cache_dir: str | Path | None = None, progress: bool = False
    ) -> None:
        self.strict = strict
        # By source (data set and split): a split read twice (test = train) is counted once.
        self.loaded: dict[str, Annotations] = {}
        self.decode_check = DecodeCheck(cache_dir or default_cache_dir(), progress)

    def load(
        self,
        path: str | Path,
        split: str | None = None,
        image_root: str | Path | None = None,
        classes: list[str] | None = None,
    ) -> Annotations:
        """:func:`load_annotations` with ``skip_invalid=True``, without the images that do not
        decode (:class:`~condet.data.decode_check.DecodeCheck`), counted here.

        The reader's own warning is held back: :meth:`report` says it once for all the data.
        """
        with problem_warnings_off():
            annotations = load_annotations(
                path, split, image_root=image_root, classes=classes, skip_invalid=True
            )
        broken = self.decode_check.problems(annotations)
        if broken:
            paths = {problem.path for problem in broken}
            annotations = annotations.derive(
                [image for image in annotations if str(image.image_path) not in paths],
                problems=[*annotations.problems, *broken],
            )
        self.loaded.setdefault(annotations.source, annotations)
        return annotations

    def report(self, run: Path | None) -> dict[str, Any]:
        """Raise (``strict``) or report what was skipped, into ``run/skipped.txt``; the counts
        (:func:`~condet.data.problems.report_skipped`)."""
        return report_skipped(self.loaded, run, self.strict)
