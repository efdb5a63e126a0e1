"""``condet classify-train`` and ``condet ood``'s options and recipes: an object-crop encoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from condet.config.training import TrainingOptions
from condet.options import ConfigError
from condet.recipes import FAST_PRECISION, recipe_help

# the crop recipe of condet's Aquarium comparison (docs/results.md, "Crop encoders and OOD"):
# an ImageNet start's own stem, AdamW
_MEASURED = {
    "small_input_stem": False,
    "batch_size": 64,
    "optimizer": "adamw",
    "lr": 0.004,
    "min_scale": 0.5,
}
CLASSIFY_RECIPES: dict[str, dict[str, Any]] = {
    "cpu": _MEASURED | {"precision": "32-true"},
    "gpu": _MEASURED | {"precision": FAST_PRECISION},
    # the contrastive-detection report's code: a CIFAR-style stem, SGD at 0.5 for batches of
    # 32 (lr is per 256 crops), RandomResizedCrop scale 0.9-1, float32
    "reference": {
        "small_input_stem": True,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 4.0,
        "min_scale": 0.9,
        "precision": "32-true",
    },
}


@dataclass
class ClassifyConfig(TrainingOptions):
    """``condet classify-train``: an object-crop encoder, one loop for every loss.

    By default EfficientNet-Lite0 from its ImageNet weights, with the ``cpu`` or ``gpu``
    recipe's optimisation.
    """

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = CLASSIFY_RECIPES

    data: Path = field(
        default=Path("runs/demo/data"),
        metadata={"help": "a VOC folder, COCO .json or YOLO data.yaml; its boxes are cropped"},
    )
    split: str | None = field(default="train", metadata={"help": "training split"})
    test_split: str | None = field(default="test", metadata={"help": "evaluation split"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    withhold: list[str] = field(
        default_factory=list, metadata={"help": "classes left out of training, scored as OOD"}
    )
    labeled_images: Path | None = field(
        default=None,
        metadata={
            "help": "train on the objects of these images only: a file of image ids, one per "
            "line (condet select's selected.txt)",
            "metavar": "FILE",
        },
    )
    test_image_ids: Path | None = field(
        default=None,
        metadata={
            "help": "evaluate on the objects of these images of --test-split only: a file of "
            "image ids, one per line (a fixed test split of a data set that has one split, "
            "such as a COCO JSON)",
            "metavar": "FILE",
        },
    )
    min_crops: int = field(
        default=1,
        metadata={
            "help": "classes with fewer training crops are dropped from training and test, and "
            "listed (1: those with none)",
            "minimum": 0,
        },
    )
    loss: Literal["supcon", "rince", "ranked", "ce"] = field(
        default="supcon", metadata={"help": "training loss"}
    )
    rankings: Path | None = field(
        default=None, metadata={"help": "rankings YAML (ranked), groups YAML (rince)"}
    )
    r: int = field(default=3, metadata={"help": "ranks of the ranked loss", "minimum": 1})
    temperatures: list[float] = field(
        default_factory=lambda: [0.1, 0.2, 0.3],
        metadata={"help": "one temperature per rank (the first is SupCon's)", "above": 0},
    )
    mode: Literal["in", "out"] = field(default="out", metadata={"help": "ranked / RINCE mode"})
    crop_size: int = field(default=64, metadata={"help": "side of the square crops", "minimum": 1})
    context: float = field(
        default=0.0, metadata={"help": "margin around boxes, per box side", "minimum": 0}
    )
    backbone: str = field(default="efficientnet_lite0", metadata={"help": "encoder backbone"})
    weights: str = field(default="imagenet", metadata={"help": "initial backbone weights"})
    small_input_stem: bool | None = field(
        default=None,
        metadata={
            "help": "CIFAR-style stem (3x3 conv, no max-pool) for small crops (ResNet); "
            + recipe_help(CLASSIFY_RECIPES, "small_input_stem")
        },
    )
    projection_dim: int = field(default=128, metadata={"help": "embedding width", "minimum": 1})
    queue: int = field(
        default=0,
        metadata={
            "help": "past embeddings kept as extra positives / negatives (0: none)",
            "minimum": 0,
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "crops per device and step; " + recipe_help(CLASSIFY_RECIPES, "batch_size"),
            "minimum": 1,
        },
    )
    epochs: int = field(default=30, metadata={"help": "passes over the crops", "minimum": 1})
    eval_every: int = field(
        default=0,
        metadata={
            "help": "evaluate on the test crops every N epochs as well as at the end (0: end); "
            "the scores go to logs/metrics.csv, a learning curve",
            "minimum": 0,
        },
    )
    optimizer: Literal["sgd", "adamw"] | None = field(
        default=None,
        metadata={
            "help": "SGD (the report's) or AdamW (fewer steps); "
            + recipe_help(CLASSIFY_RECIPES, "optimizer")
        },
    )
    lr: float | None = field(
        default=None,
        metadata={
            "help": "learning rate per 256 crops; " + recipe_help(CLASSIFY_RECIPES, "lr"),
            "above": 0,
        },
    )
    weight_decay: float = field(default=1e-4, metadata={"help": "weight decay", "minimum": 0})
    warmup_epochs: float = field(
        default=1.0,
        metadata={
            "help": "linear warm-up in epochs, as contrastive recipes give it: a share of the run",
            "minimum": 0,
        },
    )
    min_scale: float | None = field(
        default=None,
        metadata={
            "help": "smallest random crop (area); " + recipe_help(CLASSIFY_RECIPES, "min_scale"),
            "above": 0,
            "maximum": 1,
        },
    )
    normalization: Literal["dataset", "imagenet"] = field(
        default="dataset",
        metadata={"help": "normalise as the training crops, or as the backbone's ImageNet weights"},
    )
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where crops are cached (default ~/.cache/condet)"}
    )

    def __post_init__(self) -> None:
        """Fill the recipe's options; refuse a ranked or RINCE loss without its file."""
        super().__post_init__()
        if self.loss in ("ranked", "rince") and self.rankings is None:
            raise ConfigError(f"--loss {self.loss} needs --rankings FILE (rankings or groups YAML)")
