"""``condet pretrain``: SimCLR pretraining of a backbone on unlabeled images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.outputs import write_metrics
from condet.commands.registry import Command
from condet.commands.training import TrainingOptions, is_global_zero


@dataclass
class PretrainConfig(TrainingOptions):
    """``condet pretrain``: every field is a flag (``--image-size``) and a YAML key."""

    data: Path = field(
        default=Path("runs/demo/data"),
        metadata={"help": "images: a VOC folder, COCO .json, YOLO data.yaml or image folder"},
    )
    split: str | None = field(default=None, metadata={"help": "split of a VOC / YOLO data set"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    crops: bool = field(
        default=False, metadata={"help": "pretrain on the data set's object crops, not images"}
    )
    backbone: str = field(default="resnet18", metadata={"help": "backbone name"})
    weights: str = field(
        default="random", metadata={"help": "initial weights: random, imagenet or a file"}
    )
    image_size: int = field(
        default=64, metadata={"help": "side of the training views", "minimum": 1}
    )
    batch_size: int = field(
        default=128, metadata={"help": "images per device and step", "minimum": 1}
    )
    epochs: int = field(default=10, metadata={"help": "passes over the data", "minimum": 1})
    optimizer: Literal["sgd", "lars"] = field(default="sgd", metadata={"help": "optimizer"})
    lr: float = field(
        default=0.06, metadata={"help": "learning rate per 256 images of global batch", "above": 0}
    )
    backbone_lr_scale: float | None = field(
        default=None,
        metadata={
            "help": "backbone learning rate as a fraction of --lr (default: 1 from random "
            "weights, 0.1 from pretrained ones, which the new head must not wash out)",
            "minimum": 0,
        },
    )
    weight_decay: float = field(
        default=5e-4, metadata={"help": "weight decay (not on norms)", "minimum": 0}
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


def run(config: PretrainConfig) -> int:
    """Pretrain; ``metrics.json`` holds the last epoch's mean loss."""
    from condet.runs import read_metrics
    from condet.train.pretrain import pretrain

    run_folder = pretrain(config)
    if is_global_zero():
        losses = [row["train/loss_epoch"] for row in read_metrics(run_folder)]
        losses = [float(loss) for loss in losses if loss]
        write_metrics(run_folder, {"final_loss": losses[-1]} if losses else {})
    print(f"backbone written to {run_folder / 'backbone.safetensors'}")
    return 0


COMMAND = Command(
    name="pretrain",
    help="SimCLR-pretrain a backbone on unlabeled images",
    description="SimCLR (NT-Xent) pretraining of a backbone on the images of a VOC folder, "
    "COCO JSON, YOLO data.yaml or plain image folder. Writes a run folder with config, "
    "checkpoints, CSV/TensorBoard logs and backbone.safetensors.",
    config=PretrainConfig,
    run=run,
    headline=(("final_loss", "final loss"),),
)
