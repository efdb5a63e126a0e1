"""Grad-CAM explanations of backbones, crop encoders and detectors (``condet explain``).

Heatmaps come from the ``grad-cam`` library (pytorch-grad-cam: GradCAM, GradCAM++, EigenCAM);
this module only chooses the layer and the target for each kind of model:

- a backbone (e.g. SimCLR vs random, as in the SSL paper's figure): its last stage, with the
  norm of the pooled features as the target (EigenCAM needs none);
- a crop encoder: its backbone's last stage; the target is the logit of the object's class (a
  cross-entropy model) or the cosine similarity of the embedding to its class prototype (a
  contrastive model);
- a Faster R-CNN: its feature pyramid (the library's FPN reshape), with the library's box-score
  target for the boxes it detected.

:func:`save_grid` puts models side by side on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, FasterRCNNBoxScoreTarget
from pytorch_grad_cam.utils.reshape_transforms import fasterrcnn_reshape_transform
from torch import Tensor, nn

from condet.models.backbones import Backbone

METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}


class _Pooled(nn.Module):
    """A backbone as a model whose output is its pooled feature vector."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: Tensor) -> Tensor:
        return self.backbone.pool(images)


class _FeatureNorm:
    """Target: the norm of a pooled feature vector (what the backbone responds to at all)."""

    def __call__(self, output: Tensor) -> Tensor:
        return output.norm()


class _PrototypeSimilarity:
    """Target: cosine similarity of an embedding to a class prototype."""

    def __init__(self, prototype: Tensor) -> None:
        self.prototype = prototype

    def __call__(self, output: Tensor) -> Tensor:
        return (F.normalize(output, dim=-1) * self.prototype.to(output.device)).sum()


def _last_stage(backbone: Backbone) -> nn.Module:
    return list(backbone.body.children())[-1]


def backbone_cam(backbone: Backbone, images: Tensor, method: str = "gradcam") -> np.ndarray:
    """Heatmaps ``[N, H, W]`` in [0, 1] of normalised ``images`` ``[N, 3, H, W]``."""
    model = _Pooled(backbone).eval()
    with METHODS[method](model=model, target_layers=[_last_stage(backbone)]) as cam:
        return cam(input_tensor=images, targets=[_FeatureNorm()] * len(images))


def encoder_cam(
    encoder: nn.Module,
    images: Tensor,
    labels: Tensor,
    prototypes: Tensor | None,
    known: Sequence[int],
    method: str = "gradcam",
) -> np.ndarray:
    """Heatmaps of a crop encoder for the true class of each crop (see the module docstring)."""
    encoder = encoder.eval()
    if encoder.contrastive:
        targets = [_PrototypeSimilarity(prototypes[int(label)]) for label in labels]
    else:
        position = {class_id: index for index, class_id in enumerate(known)}
        targets = [ClassifierOutputTarget(position.get(int(label), 0)) for label in labels]
    layers = [_last_stage(encoder.backbone)]
    with METHODS[method](model=encoder, target_layers=layers) as cam:
        return cam(input_tensor=images, targets=targets)


def detector_cam(
    detector: nn.Module, image: Tensor, method: str = "eigencam", score_threshold: float = 0.5
) -> tuple[np.ndarray, Tensor]:
    """Heatmap ``[H, W]`` of a Faster R-CNN on one float image ``[3, H, W]`` in [0, 1], and the
    boxes it explains (those scoring at least ``score_threshold``)."""
    detector = detector.eval()
    with torch.no_grad():
        output = detector([image])[0]
    keep = output["scores"] >= score_threshold
    boxes, labels = output["boxes"][keep], output["labels"][keep]
    targets = [FasterRCNNBoxScoreTarget(labels=labels, bounding_boxes=boxes)]
    with METHODS[method](
        model=detector,
        target_layers=[detector.backbone],
        reshape_transform=fasterrcnn_reshape_transform,
    ) as cam:
        heatmap = cam(input_tensor=image[None], targets=targets)[0]
    return heatmap, boxes


def overlay(image: Tensor, heatmap: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]``: the heatmap over a float image ``[3, H, W]`` in [0, 1]."""
    picture = image.permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float32)
    return show_cam_on_image(picture, heatmap.astype(np.float32), use_rgb=True)


def save_grid(
    rows: Sequence[Sequence[np.ndarray]],
    column_titles: Sequence[str],
    path: Path,
    title: str = "",
) -> Path:
    """A grid of uint8 images (one row per input, one column per model), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count, columns = len(rows), len(column_titles)
    figure, axes = plt.subplots(
        count, columns, figsize=(2.2 * columns, 2.2 * count + 0.4), dpi=110, squeeze=False
    )
    for row, pictures in enumerate(rows):
        for column, picture in enumerate(pictures):
            axes[row, column].imshow(picture)
            axes[row, column].axis("off")
            if row == 0:
                axes[row, column].set_title(column_titles[column], fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
