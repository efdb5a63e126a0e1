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
import dataclasses
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

from condet.allocator import tune_cpu_allocator
from condet.data.datasets import DetectionDataset
from condet.data.detection_transforms import detection_transforms
from condet.data.load import load_annotations
from condet.data.synthetic import generate_synthetic
from detect_profile import print_profile, profile
from detect_report import print_results
from detect_runs import BASELINE, Recipe, Run, time_ceiling, time_detector, training_batches
from timing import load_average, machine


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
