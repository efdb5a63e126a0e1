"""``condet pipeline``'s options: the open-set detector (detect, then classify crops with
rejection of unknown objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PipelineConfig:
    """``condet pipeline``: an open-set detector from a detector run and an encoder run."""

    detector: Path = field(metadata={"help": "detect-train run folder"})
    encoder: Path = field(metadata={"help": "classify-train run folder"})
    data: Path = field(metadata={"help": "VOC folder, COCO or YOLO"})
    split: str = field(default="test", metadata={"help": "split to run on and evaluate"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    out: Path = field(default=Path("runs/pipeline"), metadata={"help": "output folder"})
    score_threshold: float = field(
        default=0.3, metadata={"help": "detector score a box needs", "minimum": 0, "maximum": 1}
    )
    threshold: float | None = field(
        default=None,
        metadata={
            "help": "prototype similarity below which a box is unknown (default: the "
            "encoder's, which accepts 95%% of its known training crops)",
            "minimum": -1,
            "maximum": 1,
        },
    )
    progress: bool = field(
        default=True, metadata={"help": "show progress bars", "changes_results": False}
    )
