"""Speed of ``condet select``: how fast images are embedded, what choosing costs as pools grow.

- embedding: the training images of Aquarium (448 photos) decoded once at 224 px, then pooled
  EfficientNet-Lite0 ImageNet features, images per second at one thread and at two;
- choosing: TypiClust (k-means, then the most typical image of each cluster) and k-center greedy
  on synthetic unit-length 1280-d features (Lite0's width) at 10 000 and 100 000 images, for
  budgets of 100 and 1000. ``--features blobs`` (the default) draws them around 200 centres
  (scikit-learn's ``make_blobs``), as embeddings of real images group; ``--features noise``
  draws isotropic noise, which has no clusters: k-means then makes a few huge clusters and many
  tiny ones, and TypiClust's picks, which measure typicality within a cluster, cost the most.
  k-center's cost does not depend on the features.

The machine is shared: the load average is printed before and after each part.

    CONDET_SHARED_DATA=../shared/data python benchmarks/selection.py
    python benchmarks/selection.py --skip-embedding --sizes 10000 --budgets 100
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import normalize

from condet.data.images import ImageTensors
from condet.data.pool import image_pool
from condet.evaluation.features import embed
from condet.models.backbones import build_backbone
from condet.run_folder import cpu_model, git_commit
from condet.selection import kcenter_greedy, typiclust, typiclust_clusters
from condet.selection.typiclust import MAX_CLUSTERS
from timing import load_average


def embedding_speed(shared: Path) -> None:
    pool = image_pool(shared / "aquarium" / "data.yaml", "train")
    start = time.perf_counter()
    images = ImageTensors(pool.paths, 224, progress=False).images
    decoding = time.perf_counter() - start
    print(
        f"decode {len(pool)} Aquarium train images to 224 px (1 process): "
        f"{len(pool) / decoding:.1f} img/s ({load_average()})"
    )
    backbone = build_backbone("efficientnet_lite0", "imagenet")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        embed(backbone, images[:64], 64, torch.device("cpu"), progress=False)  # warm-up
        start = time.perf_counter()
        features = embed(backbone, images, 64, torch.device("cpu"), progress=False)
        seconds = time.perf_counter() - start
        print(
            f"embed with efficientnet_lite0 (imagenet), {threads} thread(s): "
            f"{len(images) / seconds:.1f} img/s, {seconds:.1f} s for {len(images)} "
            f"-> {tuple(features.shape)} ({load_average()})"
        )


def synthetic_features(size: int, kind: str) -> np.ndarray:
    """Unit-length ``[size, 1280]`` features: around 200 centres, or isotropic noise."""
    if kind == "blobs":
        features, _ = make_blobs(size, n_features=1280, centers=200, random_state=0)
    else:
        features = np.random.default_rng(0).normal(size=(size, 1280))
    return normalize(features)


def choosing_cost(sizes: list[int], budgets: list[int], kind: str) -> None:
    print(f"choosing, {kind} unit 1280-d features, threads {torch.get_num_threads()}")
    print("| images | budget | k-means (clusters) | TypiClust picks | TypiClust total | k-center |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        features = synthetic_features(size, kind)
        for budget in budgets:
            clusters_wanted = min(budget, MAX_CLUSTERS)
            start = time.perf_counter()
            clusters = typiclust_clusters(features, clusters_wanted, seed=0)
            kmeans = time.perf_counter() - start
            start = time.perf_counter()
            typiclust(features, budget, seed=0, clusters=clusters)
            picks = time.perf_counter() - start
            start = time.perf_counter()
            kcenter_greedy(features, budget, seed=0)
            kcenter = time.perf_counter() - start
            print(
                f"| {size} | {budget} | {kmeans:.1f} s ({clusters_wanted}) | {picks:.1f} s | "
                f"{kmeans + picks:.1f} s | {kcenter:.1f} s |  ({load_average()})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--features", choices=["blobs", "noise"], default="blobs")
    parser.add_argument("--skip-embedding", action="store_true")
    args = parser.parse_args()
    logging.getLogger("condet").setLevel(logging.ERROR)
    print(
        f"{cpu_model()}, {os.cpu_count()} CPUs, commit {git_commit()}, torch "
        f"{torch.__version__} ({load_average()})"
    )
    if not args.skip_embedding:
        embedding_speed(Path(os.environ.get("CONDET_SHARED_DATA", "../shared/data")))
    choosing_cost(args.sizes, args.budgets, args.features)


if __name__ == "__main__":
    main()
