"""``condet explain``'s options: Grad-CAM heatmaps of several models side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.options import SEED_RANGE, ConfigError


@dataclass
class ExplainConfig:
    """``condet explain``: one picture of heatmaps, one column per model."""

    data: Path = field(
        metadata={"help": "VOC folder, COCO .json or YOLO data.yaml", "positional": True}
    )
    split: str = field(default="test", metadata={"help": "split whose images are explained"})
    model: list[str] = field(
        default_factory=list,
        metadata={
            "help": "a model to explain (repeat): weights or a run folder",
            "repeat": True,
            "metavar": "LABEL=SOURCE",
        },
    )
    kind: Literal["backbone", "encoder", "detector"] = field(
        default="backbone", metadata={"help": "what the models are"}
    )
    backbone: str = field(
        default="efficientnet_lite0", metadata={"help": "backbone name (--kind backbone)"}
    )
    method: Literal["gradcam", "gradcam++", "eigencam"] = field(
        default="gradcam", metadata={"help": "CAM method"}
    )
    images: int = field(default=6, metadata={"help": "how many images or crops", "minimum": 1})
    size: int = field(default=224, metadata={"help": "image side (--kind backbone)", "minimum": 1})
    out: Path = field(default=Path("runs/gradcam.png"), metadata={"help": "PNG to write"})
    seed: int = field(
        default=0, metadata={"help": "seed of random weights (--model X=random)", **SEED_RANGE}
    )

    def __post_init__(self) -> None:
        """Refuse a picture of no model."""
        if not self.model:
            raise ConfigError("name at least one model: --model LABEL=SOURCE")
