"""``condet detect-train``'s options and recipes: Faster R-CNN fine-tuning, supervised or
semi-supervised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from condet.config.training import TrainingOptions
from condet.options import ConfigError
from condet.recipes import FAST_PRECISION, recipe_help

# torchvision's Faster R-CNN reference sizes (its detection reference scripts' defaults)
REFERENCE_SIZES: dict[str, int] = {
    "min_size": 800,
    "max_size": 1333,
    "smallest_stride": 4,
    "fpn_channels": 256,
    "proposals": 1000,
    "roi_samples": 512,
}
# Unbiased Teacher's (Liu et al. 2021) and STAC's (Sohn et al. 2020) settings
SEMI_DEFAULTS: dict[str, dict[str, float]] = {
    "mean-teacher": {"pseudo_threshold": 0.7, "unsupervised_weight": 4.0},
    "pseudo-labels": {"pseudo_threshold": 0.9, "unsupervised_weight": 2.0},
}
DETECT_RECIPES: dict[str, dict[str, Any]] = {
    # docs/results.md, "The CPU detector recipe": 2.4x the training images/s of the reference
    # sizes in float32 at the same BCCD AP50
    "cpu": {
        "min_size": 320,
        "max_size": 427,
        "smallest_stride": 8,
        "fpn_channels": 128,
        "proposals": 300,
        "roi_samples": 128,
        "precision": FAST_PRECISION,
    },
    "gpu": REFERENCE_SIZES | {"precision": FAST_PRECISION},
    "reference": REFERENCE_SIZES | {"precision": "32-true"},
}


@dataclass
class DetectConfig(TrainingOptions):
    """``condet detect-train``: Faster R-CNN fine-tuning at a label fraction.

    By default the detector condet's studies recommend: EfficientNet-Lite0 from its ImageNet
    weights with BatchNorm frozen, at the sizes of the ``cpu`` or ``gpu`` recipe.
    """

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = DETECT_RECIPES

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
    withhold: list[str] = field(
        default_factory=list,
        metadata={
            "help": "classes whose boxes training leaves out (their objects are background) and "
            "the test split ignores: the unknown classes of an open-set pipeline"
        },
    )
    label_fraction: float = field(
        default=1.0,
        metadata={
            "help": "fraction of training images whose labels are used",
            "above": 0,
            "maximum": 1,
        },
    )
    labeled_images: Path | None = field(
        default=None,
        metadata={
            "help": "train on the labels of exactly these images: a file of image ids, one per "
            "line (condet select's selected.txt), instead of --label-fraction",
            "metavar": "FILE",
        },
    )
    backbone: str = field(default="efficientnet_lite0", metadata={"help": "backbone name"})
    weights: str = field(
        default="imagenet",
        metadata={"help": "backbone weights: random, imagenet, a file or a pretrain run folder"},
    )
    trainable_stages: int | None = field(
        default=None,
        metadata={
            "help": "trainable backbone stages from the top, 0..5 (default: 3 from pretrained "
            "weights, 5 from random)",
            "minimum": 0,
            "maximum": 5,
        },
    )
    norm: Literal["auto", "frozen", "batchnorm"] = field(
        default="auto", metadata={"help": "backbone BatchNorm: frozen for pretrained weights"}
    )
    class_agnostic: bool = field(
        default=False, metadata={"help": "one 'object' class: a proposal detector"}
    )
    min_size: int | None = field(
        default=None,
        metadata={
            "help": "short image side after resizing; " + recipe_help(DETECT_RECIPES, "min_size"),
            "minimum": 1,
        },
    )
    max_size: int | None = field(
        default=None,
        metadata={
            "help": "longest image side after resizing; " + recipe_help(DETECT_RECIPES, "max_size"),
            "minimum": 1,
        },
    )
    smallest_stride: Literal[4, 8, 16] | None = field(
        default=None,
        metadata={
            "help": "finest pyramid level, 4 or 8 (half the cost); "
            + recipe_help(DETECT_RECIPES, "smallest_stride")
        },
    )
    fpn_channels: int | None = field(
        default=None,
        metadata={
            "help": "feature pyramid width; " + recipe_help(DETECT_RECIPES, "fpn_channels"),
            "minimum": 1,
        },
    )
    proposals: int | None = field(
        default=None,
        metadata={
            "help": "RPN proposals per image (twice as many in training); "
            + recipe_help(DETECT_RECIPES, "proposals"),
            "minimum": 1,
        },
    )
    roi_samples: int | None = field(
        default=None,
        metadata={
            "help": "proposals per image to train on; "
            + recipe_help(DETECT_RECIPES, "roi_samples"),
            "minimum": 1,
        },
    )
    channels_last: bool = field(
        default=True, metadata={"help": "channels_last memory format (faster convolutions)"}
    )
    batch_size: int = field(
        default=4, metadata={"help": "images per device and step", "minimum": 1}
    )
    epochs: int = field(
        default=12, metadata={"help": "passes over the labelled images", "minimum": 1}
    )
    lr: float = field(
        default=0.02, metadata={"help": "learning rate per 16 images of batch", "above": 0}
    )
    weight_decay: float = field(
        default=1e-4, metadata={"help": "weight decay (not on norms)", "minimum": 0}
    )
    warmup_steps: int = field(
        default=100,
        metadata={
            "help": "linear warm-up in optimizer steps, as detection recipes give it "
            "(at most a fifth of the run)",
            "minimum": 0,
        },
    )
    clip_grad_norm: float = field(
        default=0.0,
        metadata={
            "help": "clip the gradient's norm to this (0: off): keeps a short run at a high "
            "rate from diverging",
            "minimum": 0,
        },
    )
    focal_gamma: float = field(
        default=0.0,
        metadata={
            "help": "train the box classifier with a focal loss of this exponent (Unbiased "
            "Teacher: 1.5; 0: cross-entropy)",
            "minimum": 0,
        },
    )
    eval_every: int = field(
        default=0,
        metadata={"help": "evaluate every N epochs as well as at the end (0: end)", "minimum": 0},
    )
    score_threshold: float = field(
        default=0.05,
        metadata={"help": "detections below this score are dropped", "minimum": 0, "maximum": 1},
    )
    localization_threshold: float = field(
        default=0.5,
        metadata={
            "help": "detections at least this confident are matched for mean IoU and "
            "localization accuracy (CorLoc takes each class's top box at any score)",
            "minimum": 0,
            "maximum": 1,
        },
    )
    semi: Literal["none", "mean-teacher", "pseudo-labels"] = field(
        default="none",
        metadata={
            "help": "use the unlabelled images too: a mean teacher labelling them on the fly "
            "(Unbiased Teacher), or a finished --teacher labelling them once (STAC)"
        },
    )
    teacher: Path | None = field(
        default=None,
        metadata={
            "help": "a finished detect-train run: the pseudo-labeller (pseudo-labels), or the "
            "burn-in the mean teacher starts from"
        },
    )
    unlabeled: Path | None = field(
        default=None,
        metadata={
            "help": "more unlabelled images for --semi: a folder, or a data set whose labels "
            "are ignored (besides the training images --label-fraction leaves unlabelled)"
        },
    )
    unlabeled_split: str | None = field(
        default=None, metadata={"help": "split of --unlabeled when it is a VOC / YOLO data set"}
    )
    pseudo_threshold: float | None = field(
        default=None,
        metadata={
            "help": "teacher boxes scoring at least this are pseudo-labels (default: 0.7 for "
            "mean-teacher, 0.9 for pseudo-labels, as the papers)",
            "minimum": 0,
            "maximum": 1,
        },
    )
    unsupervised_weight: float | None = field(
        default=None,
        metadata={
            "help": "weight of the pseudo-labels' loss (default: 4 for mean-teacher, 2 for "
            "pseudo-labels, as the papers)",
            "minimum": 0,
        },
    )
    unlabeled_ratio: int = field(
        default=1,
        metadata={"help": "unlabelled images per labelled image in a step", "minimum": 1},
    )
    ema_rate: float = field(
        default=0.9996,
        metadata={
            "help": "the mean teacher keeps this share of itself at each step (Unbiased "
            "Teacher's 0.9996; runs of a few thousand steps want less; 1: the teacher stays as "
            "the burn-in left it)",
            "minimum": 0,
            "maximum": 1,
        },
    )
    burn_in_steps: int | None = field(
        default=None,
        metadata={
            "help": "mean-teacher: supervised steps before the teacher starts (default: half "
            "the run, or 0 from a --teacher)",
            "minimum": 0,
        },
    )

    def __post_init__(self) -> None:
        """Fill the recipe's options and the semi-supervised method's paper defaults; refuse
        offline pseudo-labels without the detector that makes them."""
        super().__post_init__()
        if self.semi == "pseudo-labels" and self.teacher is None:
            raise ConfigError(
                "--semi pseudo-labels needs --teacher RUN: the finished detector that labels "
                "the unlabelled images"
            )
        for option, value in SEMI_DEFAULTS.get(self.semi, {}).items():
            if getattr(self, option) is None:
                setattr(self, option, value)
