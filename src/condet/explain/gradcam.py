"""Grad-CAM explanations of backbones and crop encoders (``condet explain``).

Heatmaps come from the ``grad-cam`` library (pytorch-grad-cam: GradCAM, GradCAM++, EigenCAM);
this module only chooses the layer and the target for each kind of model:

- a backbone (e.g. SimCLR vs random, as in the SSL paper's figure): its last stage, with the
  norm of the pooled features as the target (EigenCAM needs none);
- a crop encoder: its backbone's last stage; the target is the logit of the object's class (a
  cross-entropy model) or the projection of the embedding on its class prototype (a
  contrastive model).

A detector's heatmaps are in :mod:`condet.explain.detector_cam`; the pictures that put models
side by side in :mod:`condet.explain.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction
from torch import Tensor, nn

from condet.models.backbones import Backbone


class SignCorrectedEigenCAM(EigenCAM):
    """EigenCAM with the sign of its principal component chosen so that the strongest response
    is positive (the library's correction from Seg-Eigen-CAM, Chung & Ying 2025). The SVD leaves
    the sign arbitrary; on a detector's pyramid it often pointed away from the objects, painting
    the background instead."""

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
        return get_2d_projection_with_sign_correction(activations)


METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": SignCorrectedEigenCAM}


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


class PrototypeProjection:
    """Target: the projection ``e · p`` of an embedding ``e`` on its unit class prototype ``p``.

    Not the cosine ``e · p / |e|``, which the nearest-prototype classifier scores: a crop its
    encoder has learned sits near the cosine's maximum, where the cosine's gradient vanishes
    and its sign is noise, so Grad-CAM's clipped map came out blank for half the known crops of
    the Aquarium crop study (docs/results.md). The projection's gradient is ``p`` itself there."""

    def __init__(self, prototype: Tensor) -> None:
        self.prototype = prototype

    def __call__(self, output: Tensor) -> Tensor:
        return (output * self.prototype.to(output.device)).sum()


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
        targets = [PrototypeProjection(prototypes[int(label)]) for label in labels]
    else:
        position = {class_id: index for index, class_id in enumerate(known)}
        targets = [ClassifierOutputTarget(position.get(int(label), 0)) for label in labels]
    layers = [_last_stage(encoder.backbone)]
    with METHODS[method](model=encoder, target_layers=layers) as cam:
        return cam(input_tensor=images, targets=targets)
