"""``condet rankings derive``: class rankings for the ranked contrastive loss, from data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.outputs import write_config, write_metrics
from condet.commands.registry import Command
from condet.options import SEED_RANGE

GROUP_HELP = "derive class rankings from data"
GROUP_DESCRIPTION = "Class rankings for the ranked contrastive loss."


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


def run(config: DeriveConfig) -> int:
    """Derive and print the rankings; config and ``metrics.json`` lie beside the YAML."""
    import yaml

    from condet.derive_rankings import derive_rankings_file

    path = derive_rankings_file(
        config.data,
        config.split,
        config.out,
        by=config.by,
        encoder=config.encoder,
        backbone=config.backbone,
        weights=config.weights,
        crop_size=config.crop_size,
        neighbours=config.neighbours,
        min_similarity=config.min_similarity,
        seed=config.seed,
        image_ids=config.image_ids,
    )
    text = path.read_text()
    rankings = (yaml.safe_load(text) or {}).get("rankings") or {}
    write_config(path, config, single_file=True)
    write_metrics(path, {"classes": len(rankings)}, single_file=True)
    print(text, end="")
    return 0


COMMAND = Command(
    name="rankings derive",
    help="rank classes by the similarity of their prototypes or a classifier's confusions",
    description="Write a rankings YAML: each class's most similar classes, by the cosine "
    "similarity of class prototypes under an encoder (--backbone/--weights, e.g. a SimCLR "
    "run, or --encoder, a classify-train run) or by the confusions of a cross-entropy "
    "classify-train run (--encoder with --by confusion).",
    config=DeriveConfig,
    run=run,
    output_suffix=".yaml",
)
