"""``condet detect-train``: Faster R-CNN (FPN) fine-tuning on any backbone, at a label
fraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.registry import Command
from condet.commands.training import TrainingOptions, is_global_zero


@dataclass
class DetectConfig(TrainingOptions):
    """``condet detect-train``: Faster R-CNN fine-tuning at a label fraction."""

    data: Path = field(
        default=Path("runs/demo/data"),
        metadata={"help": "training data: a VOC folder, COCO .json or YOLO data.yaml"},
    )
    split: str | None = field(default="train", metadata={"help": "training split (VOC, YOLO)"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    test_data: Path | None = field(
        default=None, metadata={"help": "evaluation data if not --data (e.g. a test .json)"}
    )
    test_split: str | None = field(default="test", metadata={"help": "evaluation split"})
    test_images: Path | None = field(default=None, metadata={"help": "COCO: test image folder"})
    label_fraction: float = field(
        default=1.0, metadata={"help": "fraction of training images whose labels are used"}
    )
    labeled_images: Path | None = field(
        default=None,
        metadata={
            "help": "train on the labels of exactly these images: a file of image ids, one per "
            "line (condet select's selected.txt), instead of --label-fraction",
            "metavar": "FILE",
        },
    )
    backbone: str = field(default="resnet18", metadata={"help": "backbone name"})
    weights: str = field(
        default="random",
        metadata={"help": "backbone weights: random, imagenet, a file or a pretrain run folder"},
    )
    trainable_stages: int | None = field(
        default=None,
        metadata={
            "help": "trainable backbone stages from the top, 0..5 (default: 3 from pretrained "
            "weights, 5 from random)"
        },
    )
    norm: Literal["auto", "frozen", "batchnorm"] = field(
        default="auto", metadata={"help": "backbone BatchNorm: frozen for pretrained weights"}
    )
    class_agnostic: bool = field(
        default=False, metadata={"help": "one 'object' class: a proposal detector"}
    )
    min_size: int = field(default=512, metadata={"help": "short image side after resizing"})
    max_size: int = field(default=683, metadata={"help": "longest image side after resizing"})
    smallest_stride: int = field(
        default=4, metadata={"help": "finest pyramid level: 4, or 8 to halve the cost on CPU"}
    )
    fpn_channels: int = field(default=256, metadata={"help": "feature pyramid width"})
    proposals: int = field(
        default=1000, metadata={"help": "RPN proposals per image (twice as many in training)"}
    )
    roi_samples: int = field(default=512, metadata={"help": "proposals per image to train on"})
    channels_last: bool = field(
        default=True, metadata={"help": "channels_last memory format (faster convolutions)"}
    )
    batch_size: int = field(default=4, metadata={"help": "images per device and step"})
    epochs: int = field(default=12, metadata={"help": "passes over the labelled images"})
    lr: float = field(default=0.02, metadata={"help": "learning rate per 16 images of batch"})
    weight_decay: float = field(default=1e-4, metadata={"help": "weight decay (not on norms)"})
    warmup_steps: int = field(
        default=100,
        metadata={
            "help": "linear warm-up in optimizer steps, as detection recipes give it "
            "(at most a fifth of the run)"
        },
    )
    clip_grad_norm: float = field(
        default=0.0,
        metadata={
            "help": "clip the gradient's norm to this (0: off): keeps a short run at a high "
            "rate from diverging"
        },
    )
    eval_every: int = field(
        default=0, metadata={"help": "evaluate every N epochs as well as at the end (0: end)"}
    )
    score_threshold: float = field(
        default=0.05, metadata={"help": "detections below this score are dropped"}
    )
    localization_threshold: float = field(
        default=0.5,
        metadata={
            "help": "detections at least this confident are matched for mean IoU and "
            "localization accuracy (CorLoc takes each class's top box at any score)"
        },
    )


def run(config: DetectConfig) -> int:
    """Train and evaluate; the training writes ``metrics.json`` itself."""
    from condet.train.detect import detect_train

    run_folder = detect_train(config)
    if is_global_zero():
        print((run_folder / "metrics.md").read_text(), end="")
        print(f"detector and metrics written to {run_folder}")
    return 0


COMMAND = Command(
    name="detect-train",
    help="fine-tune a Faster R-CNN (FPN) on any backbone, at a label fraction",
    description="Train Faster R-CNN with a feature pyramid on a condet backbone (random, "
    "ImageNet, a file or a SimCLR run) on a VOC / COCO / YOLO data set, using a fraction "
    "of the training labels, and evaluate it on the test split: VOC AP50, COCO AP / AP50 / "
    "AP75, mean IoU and localization accuracy at IoU 0.5 / 0.7, PR curves.",
    config=DetectConfig,
    run=run,
    headline=(
        ("AP50_voc07", "VOC07 AP50"),
        ("AP", "AP"),
        ("AP50", "AP50"),
        ("AP75", "AP75"),
        ("mean_iou", "mean IoU"),
        ("loc_acc@0.5", "loc. acc@0.5"),
        ("loc_acc@0.7", "loc. acc@0.7"),
        ("det_loc_acc@0.5", "det. loc. acc@0.5"),
        ("det_loc_acc@0.7", "det. loc. acc@0.7"),
        ("corloc@0.5", "CorLoc"),
    ),
)
