"""``condet rankings derive``'s options: class rankings for the ranked loss, from data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.options import SEED_RANGE, ConfigError


@dataclass
class DeriveConfig:
    """``condet rankings derive``: a rankings YAML from prototypes or confusions."""

    data: Path = field(
        metadata={"help": "VOC folder, COCO .json or YOLO data.yaml", "positional": True}
    )
    out: Path = field(metadata={"help": "rankings YAML to write"})
    split: str = field(default="train", metadata={"help": "split whose crops are used"})
    image_ids: Path | None = field(
        default=None,
        metadata={
            "help": "use the crops of these images of the split only: a file of image ids, one "
            "per line (the training images of a data set that has one split)",
            "metavar": "FILE",
        },
    )
    by: Literal["prototypes", "confusion"] = field(
        default="prototypes", metadata={"help": "what similarity is measured by"}
    )
    encoder: Path | None = field(default=None, metadata={"help": "a classify-train run folder"})
    backbone: str = field(
        default="efficientnet_lite0", metadata={"help": "backbone, without --encoder"}
    )
    weights: str = field(default="imagenet", metadata={"help": "its weights (e.g. a pretrain run)"})
    crop_size: int = field(default=64, metadata={"help": "side of the crops", "minimum": 1})
    neighbours: int = field(default=2, metadata={"help": "classes ranked per class", "minimum": 1})
    min_similarity: float | None = field(
        default=None,
        metadata={"help": "leave out less similar classes", "minimum": -1, "maximum": 1},
    )
    seed: int = field(
        default=0, metadata={"help": "seed of random weights (--weights random)", **SEED_RANGE}
    )

    def __post_init__(self) -> None:
        """Refuse confusions without the classifier that makes them."""
        if self.by == "confusion" and self.encoder is None:
            raise ConfigError("--by confusion needs --encoder, a cross-entropy classify-train run")
