"""Training and inference images/s of condet's CPU detector recipe and torchvision's, in one run.

Three runs on the same images and batch, their repeats interleaved (the order rotates each
repeat) because the host is shared and noisy; each figure is the median of the repeats, every
repeat listed:

- condet: the detector ``condet detect-train`` trains by default on a CPU (its ``cpu`` recipe,
  read from ``DetectConfig``): EfficientNet-Lite0 from its ImageNet weights with BatchNorm
  frozen, the stem and stride-4 stage frozen, 320 px short side (427 long), pyramid from
  stride 8, 128 FPN channels, 300 proposals, 128 sampled RoIs, bf16 autocast where the CPU has
  bf16 instructions, channels_last, batch 4, SGD at detect-train's rate per 16 images,
  momentum 0.9, weight decay (not on norms and biases), as ``condet detect-train`` builds it
  (``build_detector``, ``make_optimizer``);
- torchvision: ``fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)``
  with its own defaults and the same optimizer, the reference every ratio is against;
- ceiling: the condet detector's bare backbone body (the same module, trainable stages and
  norms) forward + backward + optimizer step on random tensors of the detector's input size
  (resized to --min-size / --max-size and padded to a multiple of 32): what the step would
  cost without the pyramid, the heads and the data.

Training images/s time full steps after --warmup untimed ones: the data-loading path of
``condet detect-train`` (its step-seeded batch sampler and loader: JPEG decode, random flip,
float conversion), forward, losses, backward and optimizer step, in a plain PyTorch loop
(Lightning's logging is left out). Inference images/s time ``model.eval()`` under
``torch.inference_mode()`` on the same images, loaded as ``condet.evaluation.detectors.predict``
loads them (decode, float). Every repeat builds the models afresh from seed 0, so each repeat
does the same work.

Then a profile of where one condet training step's time goes: the step is run part by part
(``model.transform``, ``backbone.body``, ``backbone.fpn``, ``rpn``, ``roi_heads``, as
``GeneralizedRCNN.forward`` calls them), with the backward split at the same boundaries
(each part's input is a detached leaf and its gradient is passed on by hand, the same
gradients as one ``backward()``), and the RPN and RoI heads' insides timed by forward hooks.

With --compare-to-baseline the recipe given by the flags (the "candidate") is timed together
with the "baseline", interleaved, and candidate / baseline is printed: the same script then
measures an optimisation of the recipe. The baseline is the default recipe with
``--torchvision-layers``: torchvision's ``FrozenBatchNorm2d`` (float32 output) and RoIAlign
kernel, the detector as condet built it before its own (issue 27).

    CONDET_SHARED_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/detect.py --threads 1
    python benchmarks/detect.py --data ../shared/data/bccd/BCCD --steps 5 --repeats 3
    python benchmarks/detect.py --compare-to-baseline   # the default recipe against the baseline
    python benchmarks/detect.py --compare-to-baseline --fpn-channels 96
    python benchmarks/detect.py   # without CONDET_SHARED_DATA: a synthetic set of 40 images
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import misc as misc_ops

from condet.commands.detect import DetectConfig
from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, detection_collate
from condet.data.load import load_annotations
from condet.data.synthetic import generate_synthetic
from condet.data.transforms import detection_transforms
from condet.models.detector import build_detector
from condet.models.frozen_norm import FrozenBatchNorm2d
from condet.runtime import tune_cpu_allocator
from condet.train.common import ResumableLoader, StepBatchSampler
from condet.train.detector_module import SeededDetectionBatches
from condet.train.optim import make_optimizer

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
            self.backbone,
            num_classes,
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


# --- data -----------------------------------------------------------------------------------


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


# --- timed runs -----------------------------------------------------------------------------


def sgd(module: nn.Module, batch_size: int) -> torch.optim.Optimizer:
    """detect-train's optimizer: SGD, no weight decay on norms and biases, lr per 16 images."""
    return make_optimizer(module, "sgd", DEFAULT.lr * batch_size / 16, DEFAULT.weight_decay)


def images_per_second(step: Callable[[], None], warmup: int, steps: int, batch: int) -> float:
    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps * batch / (time.perf_counter() - start)


def synchronize() -> None:
    """Wait for a GPU's queued work, so that a timer measures it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


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


# --- profile --------------------------------------------------------------------------------


class HookTimer:
    """Seconds spent in some submodules (forward hooks) and methods of a model, per name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def module(self, name: str, module: nn.Module) -> None:
        starts: list[float] = []

        def before(*_: Any) -> None:
            starts.append(time.perf_counter())

        def after(*_: Any) -> None:
            self.seconds[name] += time.perf_counter() - starts.pop()

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)

    def method(self, name: str, owner: nn.Module, attribute: str) -> None:
        original = getattr(owner, attribute)

        def timed(*arguments: Any, **keywords: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*arguments, **keywords)
            finally:
                self.seconds[name] += time.perf_counter() - start

        object.__setattr__(owner, attribute, timed)  # an instance attribute hides the method


RPN_PARTS = ("head convs", "anchors", "top-k + NMS", "anchor matching", "loss")
ROI_PARTS = ("sampling + matching", "RoIAlign", "box head", "box predictor")


class SplitOutput:
    """A forward hook that hands a module's consumers a detached leaf of its output.

    So that the backward of the consumers and of the module itself can be timed apart.
    """

    def __init__(self, module: nn.Module) -> None:
        self.output: torch.Tensor | None = None
        self.leaf: torch.Tensor | None = None
        module.register_forward_hook(self)

    def __call__(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        self.output, self.leaf = output, output.detach().requires_grad_()
        return self.leaf

    def backward(self) -> None:
        if self.output is not None and self.output.requires_grad and self.leaf.grad is not None:
            torch.autograd.backward([self.output], [self.leaf.grad])
        self.output = self.leaf = None


def hook_timer(model: GeneralizedRCNN) -> HookTimer:
    timer = HookTimer()
    rpn, roi = model.rpn, model.roi_heads
    timer.module("RPN/head convs", rpn.head)
    timer.module("RPN/anchors", rpn.anchor_generator)
    timer.method("RPN/top-k + NMS", rpn, "filter_proposals")
    timer.method("RPN/anchor matching", rpn, "assign_targets_to_anchors")
    timer.method("RPN/loss", rpn, "compute_loss")
    timer.method("RoI/sampling + matching", roi, "select_training_samples")
    timer.module("RoI/RoIAlign", roi.box_roi_pool)
    timer.module("RoI/box head", roi.box_head)
    timer.module("RoI/box predictor", roi.box_predictor)
    return timer


def leaves(features: OrderedDict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Detached copies that collect the gradient a part sends back to its input."""
    return OrderedDict((key, value.detach().requires_grad_()) for key, value in features.items())


def backward_into(
    outputs: OrderedDict[str, torch.Tensor], consumers: Sequence[OrderedDict[str, torch.Tensor]]
) -> None:
    """Backward through the part that made ``outputs``, from its consumers' input gradients."""
    tensors, gradients = [], []
    for key, output in outputs.items():
        received = [inputs[key].grad for inputs in consumers if inputs[key].grad is not None]
        if output.requires_grad and received:
            tensors.append(output)
            gradients.append(received[0] if len(received) == 1 else sum(received))
    if tensors:
        torch.autograd.backward(tensors, gradients)


def profiled_step(
    model: GeneralizedRCNN,
    optimizer: torch.optim.Optimizer,
    batches: Iterator,
    timer: HookTimer,
    box_features: SplitOutput,
) -> dict[str, float]:
    """One training step, part by part: milliseconds per part."""
    timer.seconds.clear()
    times: dict[str, float] = {}
    last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[name] = 1000 * (now - last)
        last = now

    images, targets = next(batches)
    mark("data (loader next: decode + flip + float)")
    image_list, targets = model.transform(images, detector_targets(targets))
    mark("transform (normalise + resize + pad)")
    body_out = model.backbone.body(image_list.tensors)
    mark("backbone body forward")
    fpn_in = leaves(body_out)
    fpn_out = model.backbone.fpn(fpn_in)
    mark("FPN forward")
    rpn_in, roi_in = leaves(fpn_out), leaves(fpn_out)
    proposals, rpn_losses = model.rpn(image_list, rpn_in, targets)
    mark("RPN forward (incl. loss)")
    _, roi_losses = model.roi_heads(roi_in, proposals, image_list.image_sizes, targets)
    mark("RoI heads forward (incl. loss)")
    rpn_loss, roi_loss = sum(rpn_losses.values()), sum(roi_losses.values())
    optimizer.zero_grad()
    mark("loss sum + zero_grad")
    roi_loss.backward()
    mark("RoI heads backward: loss, box predictor, box head")
    box_features.backward()
    mark("RoI heads backward: RoIAlign")
    rpn_loss.backward()
    mark("RPN backward")
    backward_into(fpn_out, [rpn_in, roi_in])
    mark("FPN backward")
    backward_into(body_out, [fpn_in])
    mark("backbone body backward")
    optimizer.step()
    mark("optimizer step")

    def inner(prefix: str, names: Sequence[str], total: float) -> dict[str, float]:
        parts = {name: 1000 * timer.seconds[f"{prefix}/{name}"] for name in names}
        return {f"{prefix} fwd: {name}": ms for name, ms in parts.items()}

    rows: dict[str, float] = {}
    for name, ms in times.items():
        rows[name] = ms
        if name.startswith("RPN forward"):
            rows |= inner("RPN", RPN_PARTS, ms)
            rows["RPN fwd: box coding, other"] = ms - sum(
                value for key, value in rows.items() if key.startswith("RPN fwd:")
            )
        if name.startswith("RoI heads forward"):
            rows |= inner("RoI", ROI_PARTS, ms)
            rows["RoI fwd: loss, other"] = ms - sum(  # fastrcnn_loss, mostly
                value for key, value in rows.items() if key.startswith("RoI fwd:")
            )
    return rows


GROUPS = {
    "data + transform": ("data", "transform"),
    "backbone body (fwd + bwd)": ("backbone body",),
    "FPN (fwd + bwd)": ("FPN",),
    "RPN (fwd + bwd)": ("RPN forward", "RPN backward"),
    "RoI heads (fwd + bwd)": ("RoI heads",),
    "optimizer (zero_grad + step)": ("loss sum", "optimizer"),
}


def profile(run: Run, dataset: DetectionDataset, args: argparse.Namespace) -> dict[str, float]:
    """Median milliseconds per part over --profile-steps steps after --warmup."""
    torch.manual_seed(SEED)
    model = run.build()
    model.train()
    optimizer = sgd(model, args.batch_size)
    timer = hook_timer(model)
    box_features = SplitOutput(model.roi_heads.box_roi_pool)
    batches = training_batches(dataset, args.batch_size, args.workers)
    with autocast(run.bf16):
        for _ in range(args.warmup):
            profiled_step(model, optimizer, batches, timer, box_features)
        steps = [
            profiled_step(model, optimizer, batches, timer, box_features)
            for _ in range(args.profile_steps)
        ]
    return {name: statistics.median(step[name] for step in steps) for name in steps[0]}


def print_profile(name: str, parts: dict[str, float], timed_rate: float, batch: int) -> None:
    top = {key: ms for key, ms in parts.items() if " fwd: " not in key}
    total = sum(top.values())
    print(
        f"\n#### Profile of one training step: {name} (median per part; {total:.0f} ms = "
        f"{1000 * batch / total:.2f} img/s part by part; the timed steps' median: "
        f"{1000 * batch / timed_rate:.0f} ms)\n"
    )
    print("| part | ms | % of step |\n|---|---:|---:|")
    for key, ms in parts.items():
        label = f"- of which {key}" if " fwd: " in key else key
        print(f"| {label} | {ms:.1f} | {100 * ms / total:.1f}% |")
    print("\nBy component:")
    grouped = {
        group: sum(ms for key, ms in top.items() if key.startswith(prefixes))
        for group, prefixes in GROUPS.items()
    }
    for group, ms in sorted(grouped.items(), key=lambda item: -item[1]):
        print(f"  {group:<30} {ms:8.1f} ms  {100 * ms / total:5.1f}%")


# --- report ---------------------------------------------------------------------------------


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {os.cpu_count()} CPUs ({usable} usable), torch {torch.__version__} "
        f"(torchvision {torchvision.__version__}), torch threads: {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"Python {platform.python_version()}"
    )


def listed(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f}  ({', '.join(f'{value:.2f}' for value in values)})"


def ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if value and reference else "-"


def print_results(
    runs: list[Run], recipes: dict[str, Recipe], args: argparse.Namespace, context: str
) -> None:
    print(f"\nMedian images/s of {args.repeats} repeats (each repeat in brackets):")
    width = max(len(run.name) for run in runs)
    for run in runs:
        print(f"  {run.name:<{width}}  train     {listed(run.train)}")
        if run.inference:
            print(f"  {'':<{width}}  inference {listed(run.inference)}")
    medians = {
        run.name: (
            statistics.median(run.train),
            statistics.median(run.inference) if run.inference else None,
        )
        for run in runs
    }
    reference = medians.get("torchvision", (None, None))
    if "candidate" in medians:
        candidate, baseline = medians["candidate"], medians["baseline"]
        pairs = zip(next(r for r in runs if r.name == "candidate").train,
                    next(r for r in runs if r.name == "baseline").train, strict=True)  # fmt: skip
        print(
            f"\ncandidate / baseline: train {ratio(candidate[0], baseline[0])}, inference "
            f"{ratio(candidate[1], baseline[1])} (train, repeat by repeat: "
            f"{', '.join(f'{c / b:.2f}x' for c, b in pairs)})"
        )
    print(f"\n{context}\n")
    print(
        "| run | train img/s | inference img/s | train / torchvision | "
        "inference / torchvision | train / ceiling |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for run in runs:
        train, inference = medians[run.name]
        of_ceiling = f"{train / medians[run.ceiling][0]:.0%}" if run.ceiling in medians else "-"
        print(
            f"| {run.name} | {train:.2f} | {f'{inference:.2f}' if inference else '-'} | "
            f"{ratio(train, reference[0])} | "
            f"{ratio(inference, reference[1]) if run.kind == 'detector' else '-'} | "
            f"{of_ceiling} |"
        )
    print()
    for name, recipe in recipes.items():
        print(f"{name}: {recipe.describe()}")
    if not args.no_reference:
        print("torchvision: fasterrcnn_mobilenet_v3_large_320_fpn, its defaults, random weights")


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = os.environ.get("CONDET_SHARED_DATA")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(shared) / "bccd" / "BCCD" if shared else None,
        help="VOC / COCO / YOLO data (default: $CONDET_SHARED_DATA/bccd/BCCD; without "
        "CONDET_SHARED_DATA, a synthetic set of 40 images)",
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--workers", type=int, default=0, help="loader workers (detect-train's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the profile is CPU-only)")
    parser.add_argument("--profile-steps", type=int, default=3, help="0: no profile")
    parser.add_argument("--profile-reference", action="store_true", help="profile it too")
    parser.add_argument("--no-reference", action="store_true", help="skip torchvision's")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the backbone ceiling")
    parser.add_argument(
        "--compare-to-baseline",
        action="store_true",
        help="time today's recipe too and print candidate (the flags) / baseline",
    )
    recipe = parser.add_argument_group("recipe (defaults: detect-train's on a CPU)")
    recipe.add_argument("--backbone", default=BASELINE.backbone)
    recipe.add_argument("--weights", default=BASELINE.weights, help="random, imagenet, a file")
    recipe.add_argument("--min-size", type=int, default=BASELINE.min_size)
    recipe.add_argument("--max-size", type=int, default=BASELINE.max_size)
    recipe.add_argument("--smallest-stride", type=int, default=BASELINE.smallest_stride)
    recipe.add_argument("--fpn-channels", type=int, default=BASELINE.fpn_channels)
    recipe.add_argument("--proposals", type=int, default=BASELINE.proposals)
    recipe.add_argument("--roi-samples", type=int, default=BASELINE.roi_samples)
    recipe.add_argument("--trainable-stages", type=int, default=BASELINE.trainable_stages)
    recipe.add_argument("--norm", choices=("auto", "frozen", "batchnorm"), default=BASELINE.norm)
    recipe.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=BASELINE.channels_last,
        help="model in channels_last",
    )
    recipe.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=BASELINE.bf16,
        help="bf16 autocast (bf16-mixed)",
    )
    recipe.add_argument(
        "--torchvision-layers",
        action="store_true",
        help="torchvision's FrozenBatchNorm2d and RoIAlign kernel (the baseline's)",
    )
    args = parser.parse_args(argv)
    if min(args.steps, args.repeats, args.batch_size) < 1 or min(args.warmup, args.workers) < 0:
        parser.error("--steps, --repeats and --batch-size must be >= 1, --warmup >= 0")
    return args


def candidate_recipe(args: argparse.Namespace) -> Recipe:
    return Recipe(**{key.name: getattr(args, key.name) for key in dataclasses.fields(Recipe)})


def detector_input_shape(
    recipe: Recipe, num_classes: int, dataset: DetectionDataset, args: argparse.Namespace
) -> tuple[int, ...]:
    """The shape of the first training batch after the detector's resize and padding."""
    model = recipe.build(num_classes)
    images, _ = next(training_batches(dataset, args.batch_size, 0))
    with torch.no_grad():
        return tuple(model.transform(images)[0].tensors.shape)


def make_runs(recipes: dict[str, Recipe], num_classes: int, shapes: dict[str, tuple[int, ...]],
              args: argparse.Namespace) -> list[Run]:  # fmt: skip
    runs = [
        Run(
            name,
            "detector",
            lambda recipe=recipe: recipe.build(num_classes),
            channels_last=recipe.channels_last,
            bf16=recipe.bf16,
        )
        for name, recipe in recipes.items()
    ]
    if not args.no_reference:
        runs.append(
            Run(
                "torchvision",
                "detector",
                lambda: fasterrcnn_mobilenet_v3_large_320_fpn(
                    weights=None, weights_backbone=None, num_classes=num_classes + 1
                ),
            )
        )
    if not args.no_ceiling:
        ceilings: dict[tuple, Run] = {}
        for detector, (name, recipe) in zip(runs, recipes.items(), strict=False):
            # the body's cost does not depend on the pyramid or the heads
            body_only = dataclasses.replace(
                recipe, smallest_stride=8, fpn_channels=0, proposals=0, roi_samples=0
            )
            key = (body_only, shapes[name])
            if key not in ceilings:
                ceilings[key] = Run(
                    "ceiling" if len(recipes) == 1 else f"ceiling {name}",
                    "ceiling",
                    lambda recipe=recipe: recipe.build(num_classes).backbone.body,
                    shapes[name],
                    recipe.channels_last,
                    recipe.bf16,
                )
            detector.ceiling = ceilings[key].name
        runs += ceilings.values()
    return runs


def benchmark(args: argparse.Namespace, data: Path) -> None:
    annotations = load_annotations(data, args.split, skip_invalid=True)  # as detect-train reads it
    num_classes = len(annotations.classes)
    dataset = DetectionDataset(annotations, detection_transforms(train=True))
    candidate = candidate_recipe(args)
    recipes = (
        {"baseline": BASELINE, "candidate": candidate}
        if args.compare_to_baseline
        else {"condet": candidate}
    )
    shapes = {
        name: detector_input_shape(recipe, num_classes, dataset, args)
        for name, recipe in recipes.items()
    }
    print(
        f"data: {data} ({args.split}: {len(annotations)} images, {num_classes} classes, "
        f"{annotations.num_objects} objects), batch {args.batch_size}, {args.workers} workers"
    )
    for name, recipe in recipes.items():
        print(f"{name}: {recipe.describe()}; detector input {list(shapes[name])}")
    if args.compare_to_baseline:
        print(f"candidate differs from baseline in: {candidate.describe(BASELINE)}")
    runs = make_runs(recipes, num_classes, shapes, args)
    print(
        f"{args.repeats} repeats x ({args.warmup} warm-up + {args.steps} timed steps) of: "
        + ", ".join(run.name for run in runs)
    )

    for repeat in range(args.repeats):
        shift = repeat % len(runs)
        for run in runs[shift:] + runs[:shift]:
            if run.kind == "detector":
                train, inference = time_detector(run, dataset, annotations, args)
                run.train.append(train)
                run.inference.append(inference)
                figures = f"train {train:6.2f} img/s, inference {inference:6.2f} img/s"
            else:
                run.train.append(time_ceiling(run, args))
                figures = f"train {run.train[-1]:6.2f} img/s (forward + backward + step)"
            print(f"  repeat {repeat + 1}: {run.name:<17} {figures}", flush=True)

    if args.profile_steps > 0 and args.device == "cpu":
        for run in runs:
            if run.kind == "detector" and (run.name != "torchvision" or args.profile_reference):
                parts = profile(run, dataset, args)
                print_profile(run.name, parts, statistics.median(run.train), args.batch_size)

    context = (
        f"{data.name} {args.split}, batch {args.batch_size}, {torch.get_num_threads()} "
        f"thread(s), torch {torch.__version__}, median of {args.repeats} repeats x "
        f"{args.steps} steps; train = load + forward + backward + step, inference includes "
        "loading; ceiling = bare backbone body forward + backward + step"
    )
    print_results(runs, recipes, args, context)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tune_cpu_allocator()  # as every condet command does
    print(f"machine: {machine()}")
    print(f"at start: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        data = args.data
        if data is None:
            print("CONDET_SHARED_DATA is not set and no --data: a synthetic set of 40 images")
            data = generate_synthetic(Path(folder) / "synthetic", images=40, progress=False)
        elif not data.exists():
            sys.exit(f"--data {data} not found")
        benchmark(args, data)
    print(f"\nat end: {load_average()}")


if __name__ == "__main__":
    main()
