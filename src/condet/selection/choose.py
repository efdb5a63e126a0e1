"""``condet select``: choose which images of a split to label, from their embeddings.

Read top to bottom: the pool (every image of the split, with its id, labels ignored), its
embeddings (L2-normalised, as TypiClust's authors do, so distances compare directions), the
method, and what is written to the output folder:

- ``selected.txt``: the chosen image ids, one per line in the order chosen (VOC ``ImageSets``
  style), for ``detect-train --labeled-images``; with ``--labeled``, ``labeled.txt`` lists the
  images labelled before and the chosen ones together;
- ``selection.json``: the method, backbone, weights, budget, seed, ids, paths, cluster sizes;
- ``selection.png``: the embedding in 2-D with the chosen images marked, and their thumbnails.

    condet select ../shared/data/aquarium/data.yaml --split train --budget 0.1 \\
        --method typiclust --backbone efficientnet_lite0 --weights imagenet --out runs/select
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from sklearn.preprocessing import normalize

from condet.config.selection import SelectConfig
from condet.data.cache import default_cache_dir
from condet.data.load import DataSets
from condet.data.pool import image_pool
from condet.data.splits import read_image_ids
from condet.devices import accelerator_device
from condet.io import write_text_atomic
from condet.run_folder import write_metrics, write_run_info
from condet.selection.budget import budget_count
from condet.selection.coverage import coverage
from condet.selection.embeddings import image_embeddings
from condet.selection.kcenter import kcenter_greedy
from condet.selection.plot import plot_selection
from condet.selection.random_selection import random_selection
from condet.selection.typiclust import cluster_count, typiclust, typiclust_clusters

logger = logging.getLogger("condet")


def run_select(config: SelectConfig) -> dict[str, Any]:
    """Choose, write the output folder (see the module docstring) with its ``metrics.json``,
    and return those numbers."""
    out = config.out
    read = DataSets()
    pool = image_pool(config.data, config.split, image_root=config.images, data=read)
    labeled_ids = read_image_ids(config.labeled) if config.labeled else []
    labeled = pool.indices(labeled_ids, config.labeled) if config.labeled else []
    budget = budget_count(config.budget, len(pool), len(labeled))
    write_run_info(out, config, "select")
    skipped = read.report(out)
    logger.info("choosing %d of %d images by %s", budget, len(pool), config.method)

    embeddings, images = image_embeddings(
        pool.paths,
        config.backbone,
        config.weights,
        size=config.image_size,
        batch_size=config.batch_size,
        device=accelerator_device(config.accelerator),
        cache_dir=config.cache_dir or default_cache_dir(),
        workers=config.workers,
        seed=config.seed,
        progress=config.progress,
    )
    features = normalize(embeddings.numpy().astype(np.float64))
    clusters = None
    if config.method == "typiclust":
        count = cluster_count(budget, len(labeled), len(pool))
        clusters = typiclust_clusters(features, count, config.seed)
        chosen = typiclust(features, budget, labeled, config.seed, clusters=clusters)
    elif config.method == "kcenter":
        chosen = kcenter_greedy(features, budget, labeled, config.seed)
    else:
        chosen = random_selection(features, budget, labeled, config.seed)

    covered = coverage(features, [*labeled, *chosen])
    if clusters is not None:
        cluster_sizes = np.bincount(clusters)[clusters[chosen]].tolist()
    else:
        cluster_sizes = covered.sizes[len(labeled) :].tolist()
    chosen_ids = [pool.ids[index] for index in chosen]
    record = {
        "method": config.method,
        "data": str(config.data),
        "split": config.split,
        "backbone": config.backbone,
        "weights": str(config.weights),
        "image_size": config.image_size,
        "seed": config.seed,
        "budget": config.budget,
        "budget_images": budget,
        "pool_images": len(pool),
        "labeled_before": labeled_ids,
        "ids": chosen_ids,
        "paths": [str(pool.paths[index]) for index in chosen],
        "clusters": None if clusters is None else len(np.unique(clusters)),
        "cluster_sizes": cluster_sizes,
        "coverage": {
            "max_distance": covered.max_distance,
            "mean_distance": covered.mean_distance,
        },
    }
    write_text_atomic(out / "selected.txt", "".join(f"{image_id}\n" for image_id in chosen_ids))
    if config.labeled:
        everyone = [*labeled_ids, *chosen_ids]
        write_text_atomic(out / "labeled.txt", "".join(f"{image_id}\n" for image_id in everyone))
    write_text_atomic(out / "selection.json", json.dumps(record, indent=2))
    if config.plot != "none":
        plot_selection(
            features,
            chosen,
            labeled,
            images,
            pool.ids,
            out / "selection.png",
            method=config.plot,
            seed=config.seed,
            title=f"{config.method}, {config.backbone} ({config.weights}): {pool.source}",
        )
    metrics = {
        "method": config.method,
        "images": len(pool),
        "labeled_before": len(labeled),
        "selected": len(chosen),
        "clusters": record["clusters"],
        "coverage": record["coverage"],
        "skipped": skipped,
    }
    write_metrics(out, metrics)
    return metrics
