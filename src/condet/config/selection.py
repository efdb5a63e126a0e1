"""``condet select``'s options: which images to label.

Not named ``select.py``: run as a script, that would shadow the standard library's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.options import SEED_RANGE


@dataclass
class SelectConfig:
    """``condet select``: which images of a split to label, within a budget."""

    data: Path = field(
        metadata={
            "help": "a VOC folder, COCO .json, YOLO data.yaml or a folder of images (labels "
            "are never read)",
            "positional": True,
        }
    )
    budget: float = field(
        default=0.1,
        metadata={
            "help": "how many images to choose: a count (45), or below 1 a fraction of the "
            "split's images",
            "metavar": "N|FRACTION",
            "above": 0,
        },
    )
    split: str | None = field(default="train", metadata={"help": "split (VOC, YOLO)"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    method: Literal["random", "kcenter", "typiclust"] = field(
        default="typiclust",
        metadata={
            "help": "random (seeded), kcenter (greedy core-set) or typiclust (the most "
            "typical image of each k-means cluster)"
        },
    )
    labeled: Path | None = field(
        default=None,
        metadata={
            "help": "ids of images labelled already (one per line), which the selection "
            "extends: they count as covered",
            "metavar": "FILE",
        },
    )
    backbone: str = field(default="efficientnet_lite0", metadata={"help": "backbone name"})
    weights: str = field(
        default="imagenet",
        metadata={
            "help": "random, imagenet, a weights file, a pretrain run folder or a "
            "classify-train run"
        },
    )
    image_size: int = field(
        default=224, metadata={"help": "side of the embedded images", "minimum": 1}
    )
    batch_size: int = field(default=64, metadata={"help": "images per forward pass", "minimum": 1})
    plot: Literal["pca", "tsne", "none"] = field(
        default="pca", metadata={"help": "2-D projection in selection.png"}
    )
    out: Path = field(default=Path("runs/select"), metadata={"help": "output folder"})
    seed: int = field(
        default=0,
        metadata={"help": "seed of the draw, the first k-center, k-means and t-SNE", **SEED_RANGE},
    )
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    workers: int = field(
        default=0,
        metadata={
            "help": "processes decoding images on the first run",
            "changes_results": False,
            "minimum": 0,
        },
    )
    cache_dir: Path | None = field(
        default=None,
        metadata={"help": "where decoded images and embeddings are cached (default ~/.cache)"},
    )
    progress: bool = field(
        default=True, metadata={"help": "show progress bars", "changes_results": False}
    )
