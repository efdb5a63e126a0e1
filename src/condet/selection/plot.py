"""``selection.png``: the pool's embedding in 2-D with the chosen images marked, beside a
contact sheet of the chosen images, so that a user sees what was picked and from where."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from condet.io import atomic_path

SHEET_IMAGES = 48  # the contact sheet shows the first this many chosen images


def plot_selection(
    features: np.ndarray,
    chosen: Sequence[int],
    labeled: Sequence[int],
    images: torch.Tensor,
    ids: Sequence[str],
    path: Path,
    method: str = "pca",
    seed: int = 0,
    title: str = "",
) -> Path:
    """Write the picture to ``path`` (PNG) and return it.

    Args:
        features: ``[N, D]`` embeddings of the pool.
        chosen: indices chosen, in the order they were chosen (numbered so on the plot).
        labeled: indices labelled before.
        images: uint8 ``[N, 3, S, S]``, the pool's decoded images (the chosen ones are shown).
        ids: the N image ids (the thumbnails' captions).
        path: the PNG to write.
        method: ``pca`` or ``tsne`` (scikit-learn), seeded with ``seed``.
        title: the figure's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coordinates = _project(np.asarray(features), method, seed)
    shown = list(chosen)[:SHEET_IMAGES]
    columns = max(1, min(8, math.ceil(math.sqrt(len(shown)))))
    rows = max(1, math.ceil(len(shown) / columns))
    figure = plt.figure(figsize=(7 + 1.3 * columns, max(6.0, 1.4 * rows + 0.6)), dpi=100)
    left, right = figure.subfigures(1, 2, width_ratios=[7, 1.3 * columns])
    axes = left.subplots()
    axes.scatter(*coordinates.T, s=5, color="0.75", label=f"pool ({len(coordinates)})")
    if len(labeled):
        axes.scatter(
            *coordinates[list(labeled)].T,
            s=22,
            marker="s",
            color="tab:blue",
            label=f"labelled before ({len(labeled)})",
        )
    axes.scatter(
        *coordinates[list(chosen)].T, s=26, color="tab:red", label=f"chosen ({len(chosen)})"
    )
    for number, index in enumerate(shown, start=1):
        axes.annotate(
            str(number), coordinates[index], fontsize=6, xytext=(2, 2), textcoords="offset points"
        )
    axes.set_title(f"embedding ({method.upper()})")
    axes.legend(fontsize=7, loc="best")
    cells = list(right.subplots(rows, columns, squeeze=False).flat)
    for cell in cells:
        cell.axis("off")
    for number, (cell, index) in enumerate(zip(cells, shown, strict=False), start=1):
        cell.imshow(images[index].permute(1, 2, 0).numpy())
        cell.set_title(f"{number}: {ids[index][:16]}", fontsize=5)
    more = f" (first {len(shown)} of {len(chosen)})" if len(chosen) > len(shown) else ""
    right.suptitle(f"chosen images{more}", fontsize=9)
    if title:
        left.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return path


def _project(features: np.ndarray, method: str, seed: int) -> np.ndarray:
    """``[N, 2]`` coordinates of ``features`` ``[N, D]`` by PCA or t-SNE."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if len(features) < 3:  # too few points to project; the plot is a formality
        return np.zeros((len(features), 2))
    if method == "tsne":
        perplexity = max(2.0, min(30.0, (len(features) - 1) / 3))
        return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(features)
    return PCA(2, random_state=seed).fit_transform(features)
