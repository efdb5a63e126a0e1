"""What benchmarks/detect.py times: the recipes (``build_detector``'s knobs, detect-train's
defaults), the batches as detect-train loads them, and a timed detector or backbone ceiling."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import misc as misc_ops

from condet.config.detect import DetectConfig
from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, detection_collate
from condet.data.detection_transforms import detection_transforms
from condet.models.detector import build_detector
from condet.models.frozen_norm import FrozenBatchNorm2d
from condet.train.batches import ResumableLoader, StepBatchSampler
from condet.train.detector_module import SeededDetectionBatches
from condet.train.optim import make_optimizer
from timing import images_per_second

DEFAULT = DetectConfig(recipe="cpu", accelerator="cpu")  # what detect-train trains by default
SEED = 0

Images = list[torch.Tensor]
Targets = list[dict[str, Any]]


@dataclass(frozen=True)
class Recipe:
    """The knobs of ``build_detector`` that set the cost of a step; the defaults are
    ``detect-train``'s on a CPU."""

    backbone: str = DEFAULT.backbone
    weights: str = DEFAULT.weights
    min_size: int = DEFAULT.min_size
    max_size: int = DEFAULT.max_size
    smallest_stride: int = DEFAULT.smallest_stride
    fpn_channels: int = DEFAULT.fpn_channels
    proposals: int = DEFAULT.proposals
    roi_samples: int = DEFAULT.roi_samples
    trainable_stages: int | None = DEFAULT.trainable_stages
    norm: Literal["auto", "frozen", "batchnorm"] = DEFAULT.norm
    channels_last: bool = DEFAULT.channels_last
    bf16: bool = DEFAULT.precision == "bf16-mixed"  # bf16 autocast, as bf16-mixed
    torchvision_layers: bool = False  # torchvision's FrozenBatchNorm2d and RoIAlign kernel

    def build(self, num_classes: int) -> GeneralizedRCNN:
        model = build_detector(
            num_classes=num_classes,
            backbone=self.backbone,
            weights=self.weights,
            trainable_stages=self.trainable_stages,
            norm=self.norm,
            min_size=self.min_size,
            max_size=self.max_size,
            smallest_stride=self.smallest_stride,
            fpn_channels=self.fpn_channels,
            proposals=self.proposals,
            roi_samples=self.roi_samples,
        )
        if self.torchvision_layers:
            with_torchvision_layers(model)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def describe(self, against: Recipe | None = None) -> str:
        values = dataclasses.asdict(self)
        if against is not None:
            base = dataclasses.asdict(against)
            changed = {key: value for key, value in values.items() if value != base[key]}
            return ", ".join(f"{key}={value}" for key, value in changed.items()) or "the same"
        return ", ".join(f"{key}={value}" for key, value in values.items())


BASELINE = Recipe(torchvision_layers=True)  # the default recipe as condet built it until issue 27


def with_torchvision_layers(model: GeneralizedRCNN) -> None:
    """Swap condet's frozen norms and RoIAlign for torchvision's (same parameters, same
    numbers up to rounding), in place."""

    def swap_norms(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, FrozenBatchNorm2d):
                torchvision_norm = misc_ops.FrozenBatchNorm2d(child.weight.numel(), eps=child.eps)
                torchvision_norm.load_state_dict(child.state_dict())
                setattr(module, name, torchvision_norm)
            else:
                swap_norms(child)

    swap_norms(model)
    pool = model.roi_heads.box_roi_pool
    model.roi_heads.box_roi_pool = MultiScaleRoIAlign(
        pool.featmap_names, pool.output_size, pool.sampling_ratio
    )


@dataclass
class Run:
    """One thing to time: a detector (training and inference) or a backbone ceiling."""

    name: str
    kind: Literal["detector", "ceiling"]
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...] = ()
    channels_last: bool = False
    bf16: bool = False
    ceiling: str | None = None  # of a detector: the name of its ceiling run
    train: list[float] = field(default_factory=list)
    inference: list[float] = field(default_factory=list)


def training_batches(dataset: DetectionDataset, batch_size: int, workers: int) -> Iterator:
    """Batches as ``condet detect-train`` loads them, epoch after epoch.

    Its step-seeded sampler and loader over the training transforms (random flip, float in
    [0, 1]); the sampler starts at step 0, so every run gets the same batches and flips.
    """
    steps = 0
    sampler = StepBatchSampler(len(dataset), batch_size, SEED, steps_done=lambda: steps)
    loader = ResumableLoader(
        SeededDetectionBatches(dataset, SEED),
        sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    while True:
        for batch in loader:
            steps += 1
            yield batch


def inference_batches(
    annotations: Annotations, count: int, batch_size: int, workers: int
) -> Iterator[tuple[Images, Targets]]:
    """``count`` batches of the first images (again from the first if there are too few)."""
    dataset = DetectionDataset(annotations, detection_transforms(train=False))
    indices = [index % len(dataset) for index in range(count * batch_size)]
    loader = DataLoader(
        Subset(dataset, indices),
        batch_size=batch_size,
        collate_fn=detection_collate,
        num_workers=workers,
    )
    return iter(loader)


def detector_targets(targets: Targets) -> Targets:
    """What ``DetectorModule.training_step`` passes the model."""
    return [{"boxes": target["boxes"], "labels": target["labels"]} for target in targets]


def sgd(module: nn.Module, batch_size: int) -> torch.optim.Optimizer:
    """detect-train's optimizer: SGD, no weight decay on norms and biases, lr per 16 images."""
    return make_optimizer(module, "sgd", DEFAULT.lr * batch_size / 16, DEFAULT.weight_decay)


def time_detector(
    run: Run, dataset: DetectionDataset, annotations: Annotations, args: argparse.Namespace
) -> tuple[float, float]:
    """Training, then inference images/s of a freshly built detector."""
    torch.manual_seed(SEED)
    device = torch.device(args.device)
    model = run.build().to(device)
    model.train()
    optimizer = sgd(model, args.batch_size)
    batches = training_batches(dataset, args.batch_size, args.workers)

    def train_step() -> None:
        images, targets = next(batches)
        images = [image.to(device) for image in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in detector_targets(targets)]
        with autocast(run.bf16, device):
            losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train = images_per_second(train_step, args.warmup, args.steps, args.batch_size)

    model.eval()
    test = inference_batches(annotations, args.warmup + args.steps, args.batch_size, args.workers)

    def inference_step() -> None:
        images, _ = next(test)
        with autocast(run.bf16, device):
            model([image.to(device) for image in images])

    with torch.inference_mode():
        inference = images_per_second(inference_step, args.warmup, args.steps, args.batch_size)
    return train, inference


def autocast(bf16: bool, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` (what Lightning's ``bf16-mixed`` does), or nothing."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)


def time_ceiling(run: Run, args: argparse.Namespace) -> float:
    """Backbone body forward + backward + optimizer step on random tensors."""
    torch.manual_seed(SEED)
    device = torch.device(args.device)
    body = run.build().to(device)
    body.train()
    optimizer = sgd(body, args.batch_size)
    images = torch.randn(run.input_shape, device=device)
    if run.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with autocast(run.bf16, device):
            features = body(images)
        loss = sum(feature.float().mean() for feature in features.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return images_per_second(step, args.warmup, args.steps, args.batch_size)
