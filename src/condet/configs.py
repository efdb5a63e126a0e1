"""The config of every condet command, as dataclasses (see :mod:`condet.config`).

Kept apart from the commands themselves, which import PyTorch and Lightning, so that building
the command line (``condet --help``) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Precision = Literal["32-true", "16-mixed", "bf16-mixed", "64-true"]


@dataclass
class TrainingOptions:
    """Options of every training command (fields become flags, see :mod:`condet.config`)."""

    out: Path = field(default=Path("runs/run"), metadata={"help": "run folder"})
    seed: int = field(default=0, metadata={"help": "seed of data order, augmentation, init"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out"})
    max_steps: int = field(
        default=-1,
        metadata={"help": "stop after this many optimizer steps (-1: train all epochs)"},
    )
    checkpoint_every: int = field(
        default=100, metadata={"help": "save RUN/checkpoints/last.ckpt every N steps"}
    )
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    devices: str = field(default="1", metadata={"help": "devices per node (a number or auto)"})
    num_nodes: int = field(default=1, metadata={"help": "machines"})
    strategy: str = field(default="auto", metadata={"help": "auto, ddp, ddp_spawn, ..."})
    precision: Precision = field(
        default="32-true", metadata={"help": "numeric precision (bf16-mixed on recent GPUs)"}
    )
    sync_batchnorm: bool = field(
        default=False, metadata={"help": "synchronise BatchNorm statistics across devices"}
    )
    workers: int = field(
        default=0,
        metadata={"help": "data-loading worker processes (on a CPU they also make the views)"},
    )
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    strict: bool = field(
        default=False,
        metadata={
            "help": "stop at the first bad record in the data (malformed annotation, missing "
            "image, bad box) instead of skipping it and listing every skip in RUN/skipped.txt"
        },
    )


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
    image_size: int = field(default=64, metadata={"help": "side of the training views"})
    batch_size: int = field(default=128, metadata={"help": "images per device and step"})
    epochs: int = field(default=10, metadata={"help": "passes over the data"})
    optimizer: Literal["sgd", "lars"] = field(default="sgd", metadata={"help": "optimizer"})
    lr: float = field(
        default=0.06, metadata={"help": "learning rate per 256 images of global batch"}
    )
    backbone_lr_scale: float | None = field(
        default=None,
        metadata={
            "help": "backbone learning rate as a fraction of --lr (default: 1 from random "
            "weights, 0.1 from pretrained ones, which the new head must not wash out)"
        },
    )
    weight_decay: float = field(default=5e-4, metadata={"help": "weight decay (not on norms)"})
    warmup_epochs: float = field(default=1.0, metadata={"help": "linear warm-up length"})
    temperature: float = field(default=0.5, metadata={"help": "NT-Xent temperature"})
    projection_dim: int = field(default=128, metadata={"help": "embedding width"})
    hidden_dim: int = field(default=2048, metadata={"help": "projection head hidden width"})
    channels_last: bool = field(
        default=True, metadata={"help": "channels_last memory format (faster convolutions)"}
    )
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where decoded images are cached (default ~/.cache)"}
    )


@dataclass
class FeaturesConfig:
    """``condet evaluate-features``: frozen-backbone evaluation on labelled images or crops."""

    train: Path = field(
        default=Path("runs/demo/data"),
        metadata={
            "help": "labelled reference data: class folders (root/<class>/*.jpg) or a "
            "VOC / COCO / YOLO data set, whose object crops are used"
        },
    )
    test: Path = field(default=Path("runs/demo/data"), metadata={"help": "labelled test data"})
    train_split: str | None = field(default="train", metadata={"help": "split of --train"})
    test_split: str | None = field(default="test", metadata={"help": "split of --test"})
    backbone: str = field(default="resnet18", metadata={"help": "backbone name"})
    weights: str = field(
        default="random",
        metadata={"help": "random, imagenet, a weights file or a condet pretrain run folder"},
    )
    image_size: int = field(default=64, metadata={"help": "side of the images / crops"})
    batch_size: int = field(default=256, metadata={"help": "images per forward pass"})
    max_per_class: int = field(
        default=0,
        metadata={
            "help": "use at most this many images / crops of each class from each split, "
            "the first in file order (0: all); for a quick look at a large set"
        },
    )
    methods: list[Literal["knn", "ncm", "linear"]] = field(
        default_factory=lambda: ["knn", "ncm", "linear"], metadata={"help": "classifiers"}
    )
    k: int = field(default=200, metadata={"help": "neighbours of the k-NN classifier"})
    knn_temperature: float = field(default=0.1, metadata={"help": "k-NN vote temperature"})
    plot: Literal["pca", "tsne", "none"] = field(
        default="pca", metadata={"help": "2-D plot of the test embeddings"}
    )
    out: Path = field(default=Path("runs/features"), metadata={"help": "output folder"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda or auto"})
    seed: int = field(default=0, metadata={"help": "seed of the linear probe and t-SNE"})
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where decoded images are cached (default ~/.cache)"}
    )
    progress: bool = field(default=True, metadata={"help": "show progress bars"})


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
    warmup_steps: int = field(default=100, metadata={"help": "linear warm-up steps"})
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


@dataclass
class ClassifyConfig(TrainingOptions):
    """``condet classify-train``: an object-crop encoder, one loop for every loss."""

    data: Path = field(
        default=Path("runs/demo/data"),
        metadata={"help": "a VOC folder, COCO .json or YOLO data.yaml; its boxes are cropped"},
    )
    split: str | None = field(default="train", metadata={"help": "training split"})
    test_split: str | None = field(default="test", metadata={"help": "evaluation split"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    withhold: list[str] = field(
        default_factory=list, metadata={"help": "classes left out of training, scored as OOD"}
    )
    loss: Literal["supcon", "rince", "ranked", "ce"] = field(
        default="supcon", metadata={"help": "training loss"}
    )
    rankings: Path | None = field(
        default=None, metadata={"help": "rankings YAML (ranked), groups YAML (rince)"}
    )
    r: int = field(default=3, metadata={"help": "ranks of the ranked loss"})
    temperatures: list[float] = field(
        default_factory=lambda: [0.1, 0.2, 0.3],
        metadata={"help": "one temperature per rank (the first is SupCon's)"},
    )
    mode: Literal["in", "out"] = field(default="out", metadata={"help": "ranked / RINCE mode"})
    crop_size: int = field(default=64, metadata={"help": "side of the square crops"})
    context: float = field(default=0.0, metadata={"help": "margin around boxes, per box side"})
    backbone: str = field(default="resnet18", metadata={"help": "encoder backbone"})
    weights: str = field(default="random", metadata={"help": "initial backbone weights"})
    small_input_stem: bool = field(
        default=True,
        metadata={"help": "CIFAR-style stem (3x3 conv, no max-pool) for small crops (ResNet)"},
    )
    projection_dim: int = field(default=128, metadata={"help": "embedding width"})
    queue: int = field(
        default=0,
        metadata={"help": "past embeddings kept as extra positives / negatives (0: none)"},
    )
    batch_size: int = field(default=128, metadata={"help": "crops per device and step"})
    epochs: int = field(default=30, metadata={"help": "passes over the crops"})
    optimizer: Literal["sgd", "adamw"] = field(
        default="sgd",
        metadata={"help": "SGD (the report's, lr ~0.1) or AdamW (lr ~0.002; fewer steps)"},
    )
    lr: float = field(default=0.1, metadata={"help": "learning rate per 256 crops"})
    weight_decay: float = field(default=1e-4, metadata={"help": "weight decay"})
    warmup_epochs: float = field(default=1.0, metadata={"help": "linear warm-up"})
    min_scale: float = field(default=0.5, metadata={"help": "smallest random crop (area)"})
    normalization: Literal["dataset", "imagenet"] = field(
        default="dataset",
        metadata={"help": "normalise as the training crops, or as the backbone's ImageNet weights"},
    )
    cache_dir: Path | None = field(
        default=None, metadata={"help": "where crops are cached (default ~/.cache/condet)"}
    )
