"""Decoding every image of a split once, as training will, and remembering which do not decode.

The readers open image headers at most (for a size an annotation leaves out), and a header that
opens is no image that decodes: a JPEG cut short has a whole header, and a text file named
``.jpg`` fails only when its pixels are read, which a detector does at some step of its first
epoch. :class:`DecodeCheck` decodes each image of a split as training does
(:func:`~condet.data.datasets.decode_rgb`) and compares its size with the annotation's.

What it found is cached as JSON in the cache folder (``~/.cache/condet``), keyed by each image's
path, file size, modification time and annotated size, so the runs after the first decode
nothing: a changed file is checked again.

    check = DecodeCheck(cache_dir)
    for problem in check.problems(annotations):
        print(problem)  # JPEGImages/0042.jpg: cannot decode the image (Image is incomplete ...)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.datasets import decode_rgb, size_problem
from condet.data.problems import DataError, DataProblem
from condet.io import write_text_atomic

_CACHE_FORMAT = 1


class DecodeCheck:
    """The images that do not decode, or not to their annotated size, checked once each.

    Args:
        cache_dir: where each split's findings are kept (None: nowhere, decode every run).
        progress: show a progress bar while decoding.
    """

    def __init__(self, cache_dir: str | Path | None, progress: bool = False) -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.progress = progress
        # By image key: an image in two splits of one run (train and trainval) decodes once.
        self.found: dict[str, DataProblem | None] = {}

    def problems(self, annotations: Annotations) -> list[DataProblem]:
        """A problem for each image of ``annotations`` that does not decode or is not the size
        its annotation says, in split order."""
        keys = [_image_key(image) for image in annotations]
        cache = self._cache_path(keys)
        cached = None if cache is None else _read(cache)
        if cached is not None:
            # by position: the key holds the split's images in order, each however it is named
            by_index = {int(index): (problem, kind) for index, problem, kind in cached}
            for index, (key, image) in enumerate(zip(keys, annotations, strict=True)):
                found = by_index.get(index)
                self.found[key] = (
                    None if found is None else DataProblem(str(image.image_path), *found)
                )
        unchecked = [
            (key, image)
            for key, image in zip(keys, annotations, strict=True)
            if key not in self.found
        ]
        for key, image in tqdm(
            unchecked,
            desc="decoding images",
            unit="img",
            # a split whose images are all known already would show an empty bar
            disable=not self.progress or not unchecked,
            leave=False,
        ):
            self.found[key] = _decode_problem(image)
        found = [(index, self.found[key]) for index, key in enumerate(keys)]
        problems = [(index, problem) for index, problem in found if problem is not None]
        if cache is not None and unchecked:
            rows = [[index, problem.problem, problem.kind] for index, problem in problems]
            write_text_atomic(cache, json.dumps(rows))
        return [problem for _, problem in problems]

    def _cache_path(self, keys: list[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha1(json.dumps([_CACHE_FORMAT, keys]).encode()).hexdigest()[:16]
        return self.cache_dir / f"decode-check-{digest}.json"


def _image_key(image: ImageAnnotation) -> str:
    """What the check's finding for ``image`` depends on: the file and the annotated size."""
    path = Path(image.image_path).resolve()
    try:
        stat = path.stat()
    except OSError:
        return f"{path}\0missing"  # decoding it says why
    return f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{image.width}x{image.height}"


def _decode_problem(image: ImageAnnotation) -> DataProblem | None:
    path = str(image.image_path)
    try:
        pixels = decode_rgb(image.image_path)
    except DataError as error:
        return DataProblem(path, error.problem, "unreadable image")
    problem = size_problem(image, pixels)
    return None if problem is None else DataProblem(path, problem, "image size mismatch")


def _read(cache: Path) -> list[list] | None:
    """The findings in a cache file; None when there is none, or it is damaged (then every
    image is decoded again)."""
    try:
        rows = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(rows, list) and all(_is_row(row) for row in rows):
        return rows
    return None


def _is_row(row: object) -> bool:
    """Whether ``row`` is one finding: ``[index in the split, problem, kind]``."""
    return isinstance(row, list) and len(row) == 3 and isinstance(row[0], int)
