"""The images of a split with their ids, labels ignored: what selection chooses from.

An image id is what training reads back from an id file (``--labeled-images``), so that ids
written by ``condet select`` name the same images in training:

- VOC: the id of ``ImageSets/Main/<split>.txt`` (the file stem);
- COCO: the image's ``id`` in the JSON;
- YOLO: the image file's stem;
- a plain folder of images: the path relative to the folder without its suffix, with ``/``
  between folders (``tank/IMG_0012``). For a flat folder that is the stem, the id VOC and YOLO
  give the same image once it is labelled and exported by a labelling tool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from condet.data.images import image_paths
from condet.data.load import DataSets, detect_format
from condet.data.problems import DataError


@dataclass(frozen=True)
class ImagePool:
    """``ids[i]`` names the image ``paths[i]``; ``source`` says where they came from."""

    ids: list[str]
    paths: list[Path]
    source: str

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, ids: Sequence[str], listed_in: str | Path) -> list[int]:
        """Positions of ``ids`` in the pool, in their order; an id not in the pool is a
        :class:`DataError` naming it and ``listed_in`` (the file that lists it)."""
        position = {image_id: index for index, image_id in enumerate(self.ids)}
        missing = [image_id for image_id in ids if image_id not in position]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(listed_in, f"image {missing[0]!r}{more} is not in {self.source}")
        return [position[image_id] for image_id in ids]


def image_pool(
    source: str | Path,
    split: str | None = None,
    image_root: str | Path | None = None,
    data: DataSets | None = None,
) -> ImagePool:
    """Every image of ``source`` (a VOC folder, COCO JSON, YOLO ``data.yaml`` or a folder of
    images, searched recursively) with its id; a data set is read through ``data``, which
    counts what its reader skipped.

    >>> pool = image_pool("../shared/data/aquarium/data.yaml", "train")  # doctest: +SKIP
    >>> pool.ids[:1]  # doctest: +SKIP
    ['IMG_2274_jpeg_jpg.rf.2f319e949748145fb22dcb52bb325a0c']
    """
    source = Path(source)
    try:
        detect_format(source)
    except DataError:
        paths = image_paths(source)
        ids = [path.relative_to(source).with_suffix("").as_posix() for path in paths]
        described = str(source)
    else:
        annotations = (data or DataSets()).load(source, split, image_root=image_root)
        paths = [image.image_path for image in annotations]
        ids = [image.image_id for image in annotations]
        described = annotations.source or str(source)
    repeated = [image_id for image_id, count in Counter(ids).items() if count > 1]
    if repeated:
        raise DataError(source, f"two images share the id {repeated[0]!r} (rename one of them)")
    return ImagePool(ids, paths, described)
