"""``condet pretrain``'s options and recipes: SimCLR pretraining of a backbone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from condet.config.training import TrainingOptions
from condet.recipes import FAST_PRECISION, recipe_help

# SimCLR's ImageNet recipe (Chen et al. 2020: 224 px views, LARS, weight decay 1e-6) at the
# batch one GPU holds, as lightly's ImageNet benchmarks run it
_REFERENCE = {
    "image_size": 224,
    "batch_size": 256,
    "optimizer": "lars",
    "lr": 0.3,
    "weight_decay": 1e-6,
}
PRETRAIN_RECIPES: dict[str, dict[str, Any]] = {
    # continued SimCLR on a data set's own images, as condet's two studies ran it
    # (docs/results.md): 96 px views, batch 64, SGD at 0.12 per 256 images, float32
    "cpu": {
        "image_size": 96,
        "batch_size": 64,
        "optimizer": "sgd",
        "lr": 0.12,
        "weight_decay": 5e-4,
        "precision": "32-true",
    },
    "gpu": _REFERENCE | {"precision": FAST_PRECISION},
    "reference": _REFERENCE | {"precision": "32-true"},
}


@dataclass
class PretrainConfig(TrainingOptions):
    """``condet pretrain``: every field is a flag (``--image-size``) and a YAML key.

    By default SimCLR continues from EfficientNet-Lite0's ImageNet weights (``--weights
    random`` starts from scratch), at the sizes of the ``cpu`` or ``gpu`` recipe.
    """

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = PRETRAIN_RECIPES

    data: Path = field(
        default=Path("runs/demo/data"),
        metadata={"help": "images: a VOC folder, COCO .json, YOLO data.yaml or image folder"},
    )
    split: str | None = field(default=None, metadata={"help": "split of a VOC / YOLO data set"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    crops: bool = field(
        default=False, metadata={"help": "pretrain on the data set's object crops, not images"}
    )
    backbone: str = field(default="efficientnet_lite0", metadata={"help": "backbone name"})
    weights: str = field(
        default="imagenet", metadata={"help": "initial weights: random, imagenet or a file"}
    )
    image_size: int | None = field(
        default=None,
        metadata={
            "help": "side of the training views; " + recipe_help(PRETRAIN_RECIPES, "image_size"),
            "minimum": 1,
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "images per device and step; " + recipe_help(PRETRAIN_RECIPES, "batch_size"),
            "minimum": 1,
        },
    )
    epochs: int = field(default=10, metadata={"help": "passes over the data", "minimum": 1})
    optimizer: Literal["sgd", "lars"] | None = field(
        default=None,
        metadata={"help": "optimizer; " + recipe_help(PRETRAIN_RECIPES, "optimizer")},
    )
    lr: float | None = field(
        default=None,
        metadata={
            "help": "learning rate per 256 images of global batch; "
            + recipe_help(PRETRAIN_RECIPES, "lr"),
            "above": 0,
        },
    )
    backbone_lr_scale: float | None = field(
        default=None,
        metadata={
            "help": "backbone learning rate as a fraction of --lr (default: 1 from random "
            "weights, 0.1 from pretrained ones, which the new head must not wash out)",
            "minimum": 0,
        },
    )
    weight_decay: float | None = field(
        default=None,
        metadata={
            "help": "weight decay (not on norms); " + recipe_help(PRETRAIN_RECIPES, "weight_decay"),
            "minimum": 0,
        },
    )
    warmup_epochs: float = field(
        default=1.0,
        metadata={
            "help": "linear warm-up in epochs, as contrastive recipes give it: a share of the run",
            "minimum": 0,
        },
    )
    temperature: float = field(default=0.5, metadata={"help": "NT-Xent temperature", "above": 0})
    projection_dim: int = field(default=128, metadata={"help": "embedding width", "minimum": 1})
    hidden_dim: int = field(
        default=2048, metadata={"help": "projection head hidden width", "minimum": 1}
    )
    channels_last: bool = field(
        default=True, metadata={"help": "channels_last memory format (faster convolutions)"}
    )
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where decoded images are cached (default ~/.cache)"}
    )
