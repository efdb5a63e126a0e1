"""``condet predict``'s options: a trained detector on images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass
class PredictConfig:
    """``condet predict``: detections of a detect-train run on image files or folders."""

    images: list[Path] = field(metadata={"help": "image files or folders", "positional": True})
    checkpoint: Path = field(metadata={"help": "detect-train run folder"})
    out: Path = field(default=Path("runs/predictions"), metadata={"help": "output folder"})
    batch_size: int = field(default=4, metadata={"help": "images per forward pass", "minimum": 1})
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    score_threshold: float = field(
        default=0.3,
        metadata={
            "help": "boxes scoring at least this are drawn and, with --format, written as labels",
            "minimum": 0,
            "maximum": 1,
        },
    )
    draw: bool = field(default=True, metadata={"help": "write the images with boxes drawn"})
    format: Literal["results", "voc", "coco", "yolo"] = field(
        default="results",
        metadata={
            "help": "results: COCO-results predictions.json; voc, coco, yolo: the boxes above "
            "--score-threshold as a data set of that format (images linked or copied), for a "
            "labelling tool to import and condet to read back"
        },
    )
    split: str = field(
        default="train", metadata={"help": "the split name of a voc or yolo data set"}
    )
