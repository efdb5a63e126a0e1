"""``condet data synth`` and ``condet data check``'s options: make and validate data sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from condet.options import SEED_RANGE


@dataclass
class SynthConfig:
    """``condet data synth``: the embedded synthetic data set."""

    out: Path = field(
        metadata={
            "help": "folder to write (empty, or an earlier synth)",
            "positional": True,
        }
    )
    images: int = field(default=300, metadata={"help": "number of images", "minimum": 5})
    seed: int = field(default=0, metadata={"help": "generator seed", **SEED_RANGE})
    size: int = field(default=256, metadata={"help": "image side in pixels", "minimum": 4})


@dataclass
class CheckConfig:
    """``condet data check``: what a data set holds and every problem in it."""

    root: Path = field(
        metadata={"help": "VOC folder, COCO .json or YOLO data.yaml", "positional": True}
    )
    split: str | None = field(
        default=None, metadata={"help": "only this split (default: every split found)"}
    )
    images: Path | None = field(
        default=None, metadata={"help": "COCO only: the folder of the images"}
    )
