"""Pictures of heatmaps: one over its image, and models side by side on the same images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image
from torch import Tensor


def overlay(image: Tensor, heatmap: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]``: the heatmap over a float image ``[3, H, W]`` in [0, 1]."""
    picture = image.permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float32)
    return show_cam_on_image(picture, heatmap.astype(np.float32), use_rgb=True)


def save_grid(
    rows: Sequence[Sequence[np.ndarray]],
    column_titles: Sequence[str],
    path: Path,
    title: str = "",
    boxes: Sequence[Sequence[Sequence[tuple[Sequence[float], str]]]] | None = None,
) -> Path:
    """A grid of uint8 images (one row per input, one column per model), saved as PNG.

    ``boxes[row][column]``, when given, lists the ``(xyxy, caption)`` boxes drawn over that
    picture, in its pixel coordinates (a detector's detections, captioned with class and score).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    count, columns = len(rows), len(column_titles)
    figure, axes = plt.subplots(
        count, columns, figsize=(2.2 * columns, 2.2 * count + 0.4), dpi=110, squeeze=False
    )
    for row, pictures in enumerate(rows):
        for column, picture in enumerate(pictures):
            axis = axes[row, column]
            axis.imshow(picture)
            axis.axis("off")
            if row == 0:
                axis.set_title(column_titles[column], fontsize=8)
            for (x1, y1, x2, y2), caption in boxes[row][column] if boxes else []:
                axis.add_patch(
                    Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white", lw=1)
                )
                axis.text(
                    x1,
                    y1,
                    caption,
                    fontsize=5,
                    verticalalignment="top",
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 0.5, "linewidth": 0},
                    clip_on=True,
                )
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
