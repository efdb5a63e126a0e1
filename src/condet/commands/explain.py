"""``condet explain``: Grad-CAM heatmaps of several models side by side on the same images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.outputs import write_config, write_metrics
from condet.commands.registry import Command
from condet.options import SEED_RANGE


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


def run(config: ExplainConfig) -> int:
    """Explain; config and ``metrics.json`` (what was explained) lie beside the picture."""
    from condet.explain.command import explain, parse_models

    models = parse_models(config.model)
    path = explain(
        config.data,
        config.split,
        models,
        config.kind,
        config.out,
        backbone=config.backbone,
        method=config.method,
        count=config.images,
        size=config.size,
        seed=config.seed,
    )
    write_config(path, config, single_file=True)
    write_metrics(path, {"models": len(models), "images": config.images}, single_file=True)
    print(f"heatmaps written to {path}")
    return 0


COMMAND = Command(
    name="explain",
    help="Grad-CAM heatmaps of models side by side on the same images",
    description="Grad-CAM / Grad-CAM++ / EigenCAM heatmaps of several models on the same "
    "images of a data set: backbones (e.g. a SimCLR run against random weights), crop "
    "encoders (classify-train runs, on object crops) or detectors (detect-train runs).",
    config=ExplainConfig,
    run=run,
    output_suffix=".png",
)
