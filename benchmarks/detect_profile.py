"""Where one detector training step's time goes, part by part (benchmarks/detect.py's profile):
the step run as ``GeneralizedRCNN.forward`` runs it, the backward split at the same boundaries,
the RPN and RoI heads' insides timed by forward hooks."""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from condet.data.datasets import DetectionDataset
from detect_runs import SEED, Run, autocast, detector_targets, sgd, training_batches


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
