"""Training throughput of ``condet pretrain`` against lightly's SimCLR, in one process.

Both train the same SimCLR: the same backbone, projection head (Linear-BN-ReLU-Linear,
2048 hidden, 128 out), NT-Xent at temperature 0.5, SGD, batch, view size and augmentations
(lightly's ``SimCLRTransform`` defaults; no blur below 96 px, as condet does), on the same
JPEGs. lightly runs the way its examples do: PIL transforms in DataLoader workers and a plain
PyTorch loop. condet runs its real command (Lightning, uint8 images decoded once, views made
batched on the device, channels_last). A bare forward + backward + step of the backbone and
head on random views is the ceiling both are measured against.

lightly is not a condet dependency; install it into the benchmark environment only::

    pip install lightly==1.6.0
    CONDET_SHARED_DATA=../shared/data python benchmarks/pretrain.py
    python benchmarks/pretrain.py --device cuda --backbone resnet50 --image-size 224 \
        --precision bf16-mixed --batch-size 256 --no-lightly
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from condet.allocator import tune_cpu_allocator
from condet.config.pretrain import PretrainConfig
from condet.data.cache import default_cache_dir
from condet.data.images import ImageTensors, image_paths
from condet.losses import NTXentLoss
from condet.models.backbones import build_backbone
from condet.models.heads import ProjectionHead
from condet.train.pretrain import run_pretrain
from timing import images_per_second_between


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, *args) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.starts.append(time.perf_counter())


def run_condet(args, data: Path) -> float:
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as folder:
        config = PretrainConfig(
            data=data, out=Path(folder) / "run", backbone=args.backbone,
            image_size=args.image_size, batch_size=args.batch_size,
            # an epoch has at least one step, so on a small data set (fewer images than
            # steps x batch) the run still reaches max_steps
            epochs=args.warmup + args.steps + 1, max_steps=args.warmup + args.steps + 1,
            checkpoint_every=10**9, progress=False,
            accelerator="gpu" if args.device == "cuda" else "cpu", precision=args.precision,
            cache_dir=args.cache_dir,
        )  # fmt: skip
        run_pretrain(config, callbacks=[timer])
    return images_per_second_between(timer.starts, args.warmup, args.batch_size)


def run_lightly(args, data: Path) -> float:
    import torchvision
    from lightly.loss import NTXentLoss as LightlyNTXent
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform

    transform = SimCLRTransform(input_size=args.image_size, gaussian_blur=0.0)
    dataset = torchvision.datasets.ImageFolder(str(data), transform=transform)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
        num_workers=args.lightly_workers, persistent_workers=args.lightly_workers > 0,
    )  # fmt: skip
    device = torch.device(args.device)
    backbone = build_backbone(args.backbone).to(device)
    head = SimCLRProjectionHead(backbone.out_channels, 2048, 128).to(device)
    criterion = LightlyNTXent(temperature=0.5)
    parameters = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.06 * args.batch_size / 256, momentum=0.9)
    starts = []
    for (first, second), _ in loader:
        starts.append(time.perf_counter())
        if len(starts) > args.warmup + args.steps:
            break
        first, second = first.to(device), second.to(device)
        z = head(backbone.pool(torch.cat([first, second])))
        loss = criterion(*z.chunk(2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return images_per_second_between(starts, args.warmup, args.batch_size)


def run_bare(args) -> float:
    """The ceiling: the same step on random views already on the device."""
    device = torch.device(args.device)
    backbone = build_backbone(args.backbone).to(device, memory_format=torch.channels_last)
    head = ProjectionHead(backbone.out_channels, 2048, 128).to(device)
    criterion = NTXentLoss(0.5)
    optimizer = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.01)
    views = torch.randn(2 * args.batch_size, 3, args.image_size, args.image_size, device=device)
    views = views.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16,
                              enabled=args.precision == "bf16-mixed")  # fmt: skip
    starts = []
    for _ in range(args.warmup + args.steps + 1):
        if args.device == "cuda":
            torch.cuda.synchronize()
        starts.append(time.perf_counter())
        with autocast:
            z = head(backbone.pool(views))
        loss = criterion(*z.float().chunk(2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return images_per_second_between(starts, args.warmup, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(os.environ.get("CONDET_SHARED_DATA", "../shared/data"))
    parser.add_argument("--data", type=Path, default=shared / "imagenette2-160" / "train")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--lightly-workers", type=int, default=2)
    parser.add_argument("--no-lightly", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    tune_cpu_allocator()  # as every condet command does

    print(
        f"torch {torch.__version__}, {args.device}, threads {torch.get_num_threads()}, "
        f"{args.backbone} at {args.image_size}px, batch {args.batch_size}, {args.precision}"
    )
    print("decoding the images once (cached for later runs)...")
    start = time.perf_counter()
    ImageTensors(image_paths(args.data), round(args.image_size * 8 / 7),
                 cache_dir=args.cache_dir or default_cache_dir(), progress=False)  # fmt: skip
    print(f"  decode + resize + cache: {time.perf_counter() - start:.1f} s")

    results: dict[str, list[float]] = {"condet": [], "lightly": [], "bare step": []}
    for _ in range(args.repeats):
        results["condet"].append(run_condet(args, args.data))
        if not args.no_lightly:
            results["lightly"].append(run_lightly(args, args.data))
        results["bare step"].append(run_bare(args))
    bare = statistics.median(results["bare step"])
    for name, values in results.items():
        if values:
            rate = statistics.median(values)
            print(f"{name:<10} {rate:7.1f} images/s  ({', '.join(f'{v:.1f}' for v in values)})"
                  f"  {rate / bare:.0%} of the bare step")  # fmt: skip
    if results["lightly"]:
        ratio = statistics.median(results["condet"]) / statistics.median(results["lightly"])
        print(f"condet / lightly: {ratio:.2f}x (target >= 1.25x)")


if __name__ == "__main__":
    main()
