"""``condet evaluate-features``'s options: frozen-backbone k-NN, NCM and linear probe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.options import SEED_RANGE


@dataclass
class FeaturesConfig:
    """``condet evaluate-features``: frozen-backbone evaluation on labelled images or crops."""

    train: Path = field(
        default=Path("runs/demo/data"),
        metadata={
            "help": "labelled reference data: class folders (root/<class>/*.jpg) or a "
            "VOC / COCO / YOLO data set, whose object crops are used"
        },
    )
    test: Path = field(default=Path("runs/demo/data"), metadata={"help": "labelled test data"})
    train_split: str | None = field(default="train", metadata={"help": "split of --train"})
    test_split: str | None = field(default="test", metadata={"help": "split of --test"})
    backbone: str = field(default="efficientnet_lite0", metadata={"help": "backbone name"})
    weights: str = field(
        default="imagenet",
        metadata={"help": "random, imagenet, a weights file or a condet pretrain run folder"},
    )
    image_size: int = field(
        default=64, metadata={"help": "side of the images / crops", "minimum": 1}
    )
    batch_size: int = field(default=256, metadata={"help": "images per forward pass", "minimum": 1})
    max_per_class: int = field(
        default=0,
        metadata={
            "help": "use at most this many images / crops of each class from each split, "
            "the first in file order (0: all); for a quick look at a large set",
            "minimum": 0,
        },
    )
    methods: list[Literal["knn", "ncm", "linear"]] = field(
        default_factory=lambda: ["knn", "ncm", "linear"], metadata={"help": "classifiers"}
    )
    k: int = field(
        default=200, metadata={"help": "neighbours of the k-NN classifier", "minimum": 1}
    )
    knn_temperature: float = field(
        default=0.1, metadata={"help": "k-NN vote temperature", "above": 0}
    )
    plot: Literal["pca", "tsne", "none"] = field(
        default="pca", metadata={"help": "2-D plot of the test embeddings"}
    )
    out: Path = field(default=Path("runs/features"), metadata={"help": "output folder"})
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    seed: int = field(
        default=0,
        metadata={"help": "seed of random weights, the linear probe and t-SNE", **SEED_RANGE},
    )
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where decoded images are cached (default ~/.cache)"}
    )
    progress: bool = field(
        default=True, metadata={"help": "show progress bars", "changes_results": False}
    )
