"""Image sources for pretraining and representation evaluation.

``image_paths`` lists the images of any source: a VOC folder, a COCO JSON or a YOLO
``data.yaml`` (labels ignored), or a plain folder (searched recursively). ``class_folder``
reads an ImageNet-style labelled folder (``root/<class>/*.jpg``, as Imagenette). ``ImageTensors``
decodes the images once into one square uint8 tensor, in parallel, and caches it, so that
training epochs read no JPEG.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as F
from tqdm.auto import tqdm

from condet.data.datasets import decode_rgb
from condet.data.load import DataSets, detect_format, load_annotations
from condet.data.problems import DataError
from condet.data.yolo import IMAGE_SUFFIXES
from condet.io import atomic_path

logger = logging.getLogger("condet")

_CACHE_FORMAT = 1


def image_paths(
    source: str | Path,
    split: str | None = None,
    image_root: str | Path | None = None,
    data: DataSets | None = None,
) -> list[Path]:
    """Every image of ``source``: a data set (VOC / COCO / YOLO, any labels ignored) or a folder.

    A data set is read through ``data`` when given, which counts the records its reader
    skipped (see :class:`~condet.data.load.DataSets`); a folder's images are listed, not
    opened.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(source, "image source not found")
    try:
        detect_format(source)
    except DataError:
        if not source.is_dir():
            raise
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(source, "no images (.jpg, .png, ...) in the folder") from None
        return paths
    if data is not None:
        annotations = data.load(source, split, image_root=image_root)
    else:
        annotations = load_annotations(source, split, image_root=image_root, skip_invalid=True)
    return [image.image_path for image in annotations]


def class_folder(root: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """Images and labels of an ImageNet-style folder: one subfolder per class, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "labelled image folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise DataError(root, "expected one subfolder of images per class, found no images")
    return paths, labels, classes


def decode_square(path: Path, size: int) -> torch.Tensor:
    """uint8 ``[3, size, size]``: shorter side resized to ``size``, then the centre square."""
    image = F.resize(decode_rgb(path), [size], antialias=True)
    return F.center_crop(image, [size, size])


class _Decode(Dataset):
    def __init__(self, paths: Sequence[Path], size: int) -> None:
        self.paths, self.size = list(paths), size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return decode_square(self.paths[index], self.size)


class ImageTensors(Dataset):
    """Images decoded once into a uint8 tensor ``[N, 3, size, size]``, with optional labels.

    Items are ``(image, label)`` (label ``-1`` when there are none). The tensor is cached in
    ``cache_dir`` under a hash of the paths, their sizes on disk and ``size``, so a second run
    decodes nothing.

    Args:
        paths: image files.
        size: side of the stored squares (views are cropped from these).
        labels: one class index per image, or None.
        cache_dir: where to keep the tensor (None: memory only).
        workers: processes decoding in parallel on the first pass.
        progress: show a progress bar while decoding.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        size: int,
        labels: Sequence[int] | None = None,
        cache_dir: str | Path | None = None,
        workers: int = 0,
        progress: bool = True,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        if labels is not None and len(labels) != len(self.paths):
            raise ValueError(f"{len(self.paths)} images but {len(labels)} labels")
        self.labels = torch.tensor(labels if labels is not None else [-1] * len(self.paths))
        self.size = size
        cache_path = None if cache_dir is None else Path(cache_dir) / f"images-{self._key()}.pt"
        if cache_path is not None and cache_path.is_file():
            self.images = torch.load(cache_path, weights_only=True)
            logger.info("read %d decoded images from %s", len(self.images), cache_path)
        else:
            self.images = self._decode(workers, progress)
            if cache_path is not None:
                with atomic_path(cache_path) as temporary:
                    torch.save(self.images, temporary)
        self.cache_path = cache_path

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def _key(self) -> str:
        digest = hashlib.sha1(json.dumps([_CACHE_FORMAT, self.size]).encode())
        for path in self.paths:
            digest.update(f"{path.resolve()}\0{path.stat().st_size}\n".encode())
        return digest.hexdigest()[:16]

    def _decode(self, workers: int, progress: bool) -> torch.Tensor:
        if not self.paths:
            raise DataError("<images>", "no images to decode")
        loader = DataLoader(_Decode(self.paths, self.size), batch_size=64, num_workers=workers)
        batches = tqdm(
            loader,
            desc=f"decoding images ({self.size}px)",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        return torch.cat(list(batches))
