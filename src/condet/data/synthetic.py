"""The embedded synthetic data set, written: the scenes of :mod:`condet.data.shapes` in Pascal
VOC layout, with a ``rankings.yaml`` of the shape families beside it, so every condet command
runs on it without special cases.

Generation is deterministic: image ``i`` depends only on the seed and ``i``, and the same seed
gives byte-identical annotation files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from tqdm.auto import tqdm

import condet
from condet.data.shapes import SHAPE_FAMILIES, SYNTHETIC_CLASSES, SYNTHETIC_RANKINGS, render_scene
from condet.data.writers import write_voc_xml
from condet.errors import CondetError
from condet.io import write_bytes_atomic, write_text_atomic

SPLIT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
_MARKER = "condet-synthetic.json"


def generate_synthetic(
    out: str | Path,
    images: int = 300,
    seed: int = 0,
    image_size: int = 256,
    progress: bool = True,
) -> Path:
    """Write the synthetic data set to ``out`` in VOC layout and return ``out``.

    ``out`` must be empty, missing, or an earlier synthetic data set (which is replaced). When it
    already holds the same data set (same images, seed, size and condet version), nothing is
    regenerated.

    >>> root = generate_synthetic("data/synthetic", images=300, seed=0)  # doctest: +SKIP
    >>> load_voc(root, "train")  # doctest: +SKIP
    """
    if images < 5:
        raise CondetError(f"--images must be at least 5 (one per split and more), got {images}")
    out = Path(out)
    settings = {
        "images": images,
        "seed": seed,
        "image_size": image_size,
        "condet": condet.__version__,
    }
    marker = out / _MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) == settings and _complete(out):
            return out
        for folder in ("JPEGImages", "Annotations", "ImageSets"):
            shutil.rmtree(out / folder, ignore_errors=True)
        marker.unlink()
    elif out.exists() and any(out.iterdir()):
        raise CondetError(
            f"{out} is not empty and holds no condet synthetic data set; choose an empty folder"
        )
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (out / folder).mkdir(parents=True, exist_ok=True)

    image_ids = [f"{index:06d}" for index in range(images)]
    for index in tqdm(range(images), desc="synthetic scenes", unit="img", disable=not progress):
        pixels, annotation = render_scene(index, seed, image_size)
        image_path = out / "JPEGImages" / f"{image_ids[index]}.jpg"
        annotation.image_path = image_path
        Image.fromarray(pixels).save(image_path, quality=92)
        xml = write_voc_xml(annotation, SYNTHETIC_CLASSES)
        write_bytes_atomic(out / "Annotations" / f"{image_ids[index]}.xml", xml)

    order = np.random.default_rng([seed, images]).permutation(images)
    train_end = round(SPLIT_FRACTIONS["train"] * images)
    val_end = train_end + round(SPLIT_FRACTIONS["val"] * images)
    splits = {
        "train": order[:train_end],
        "val": order[train_end:val_end],
        "test": order[val_end:],
    }
    splits["trainval"] = np.concatenate([splits["train"], splits["val"]])
    for name, indices in splits.items():
        lines = "".join(f"{image_ids[i]}\n" for i in sorted(indices))
        write_text_atomic(out / "ImageSets" / "Main" / f"{name}.txt", lines)

    groups = {family: list(names) for family, names in SHAPE_FAMILIES.items()}
    rankings_text = yaml.safe_dump(
        {"rankings": SYNTHETIC_RANKINGS, "groups": groups}, sort_keys=False
    )
    write_text_atomic(out / "rankings.yaml", rankings_text)
    write_text_atomic(marker, json.dumps(settings))
    return out


def _complete(out: Path) -> bool:
    return all((out / "ImageSets" / "Main" / f"{name}.txt").is_file() for name in SPLIT_FRACTIONS)
