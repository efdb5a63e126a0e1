"""Grad-CAM explanations of a Faster R-CNN's detections (``condet explain --kind detector``).

The layer is the detector's whole feature pyramid (see :class:`_PyramidTap`), the target the
``grad-cam`` library's box-score target for the boxes it detected.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
from torch import Tensor, nn

from condet.explain.gradcam import SignCorrectedEigenCAM


class _Centered:
    """A gradient CAM of activations less their mean over the map.

    The levels of a feature pyramid come out of convolutions with biases and no ReLU, so each
    channel carries an offset that is the same everywhere. Weighted by the gradients, the offsets
    add one constant to the whole map, often negative enough for the library's final ReLU to
    leave nothing, or only the background. Less its mean, the map shows where the features raise
    the target more than they do on average.
    """

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
        centered = activations - activations.mean(axis=(2, 3), keepdims=True)
        return super().get_cam_image(
            input_tensor, target_layer, targets, centered, grads, eigen_smooth
        )


class _PyramidGradCAM(_Centered, GradCAM):
    """GradCAM of a feature pyramid."""


class _PyramidGradCAMPlusPlus(_Centered, GradCAMPlusPlus):
    """GradCAM++ of a feature pyramid."""


PYRAMID_METHODS = {
    "gradcam": _PyramidGradCAM,
    "gradcam++": _PyramidGradCAMPlusPlus,
    "eigencam": SignCorrectedEigenCAM,
}
# A detector's heatmap is computed on its finest pyramid level of at most this many cells:
# EigenCAM's SVD makes a cells x cells matrix.
_GRID_CELLS = 64 * 64


class _PyramidTap:
    """A Faster R-CNN's feature pyramid as one tensor that the CAM library can hook.

    The library records a target layer's output and, through a hook on that tensor, its
    gradient. The backbone's output is a dict of pyramid levels, on which it records no
    gradient: GradCAM and GradCAM++ of ``detector.backbone`` had none to weigh. Here a forward
    hook on the backbone passes all the levels through :attr:`layer` (an identity) as one flat
    tensor and hands the detector views of it, so the gradients of every level meet there.
    :meth:`reshape` turns that tensor, and its gradient, back into levels without the batch
    padding, resized to one grid with their channels side by side. (The library's
    ``fasterrcnn_reshape_transform`` takes absolute values, which drops the signs of the
    gradients that GradCAM weighs channels by, resizes to the coarsest level and keeps the
    padding, which stretches the map past the image.)

    Args:
        backbone: the detector's ``BackboneWithFPN``.
        image_size: ``(height, width)`` of the image resized by the detector, before padding.
    """

    def __init__(self, backbone: nn.Module, image_size: tuple[int, int]) -> None:
        self.layer = nn.Identity()
        self.image_size = image_size
        self.padded_size = image_size
        self.shapes: list[torch.Size] = []
        self.handle = backbone.register_forward_hook(self._flatten)

    def _flatten(
        self, module: nn.Module, inputs: tuple[Tensor], levels: OrderedDict[str, Tensor]
    ) -> OrderedDict[str, Tensor]:
        self.padded_size = tuple(inputs[0].shape[-2:])
        self.shapes = [level.shape[1:] for level in levels.values()]
        flat = self.layer(torch.cat([level.flatten(1) for level in levels.values()], dim=1))
        return OrderedDict(zip(levels, self._split(flat), strict=True))

    def _split(self, flat: Tensor) -> list[Tensor]:
        parts = flat.split([shape.numel() for shape in self.shapes], dim=1)
        return [part.view(-1, *shape) for part, shape in zip(parts, self.shapes, strict=True)]

    def reshape(self, flat: Tensor) -> Tensor:
        """The levels ``[N, C, h, w]`` of a flat activation or gradient ``[N, D]`` on one grid,
        channels concatenated."""
        levels = []
        for level in self._split(flat):
            height, width = (
                math.ceil(cells * valid / padded)
                for cells, valid, padded in zip(
                    level.shape[-2:], self.image_size, self.padded_size, strict=True
                )
            )
            levels.append(level[..., :height, :width])
        grid = next(
            (level.shape[-2:] for level in levels if level.shape[-2:].numel() <= _GRID_CELLS),
            levels[-1].shape[-2:],
        )
        # antialiased: finer levels are averaged down to the grid, not sampled
        resized = [
            F.interpolate(level, size=grid, mode="bilinear", antialias=True) for level in levels
        ]
        return torch.cat(resized, dim=1)

    def remove(self) -> None:
        self.handle.remove()


@torch.inference_mode(False)  # a caller's inference tensors cannot be part of a backward pass
def detector_cam(
    detector: nn.Module, image: Tensor, method: str = "gradcam", score_threshold: float = 0.5
) -> tuple[np.ndarray, dict[str, Tensor]]:
    """Explain the detections of a Faster R-CNN on one image with ``method``.

    The target is the library's box-score target: for each detection explained, the IoU and
    the score of the box that matches it (itself, so the IoU is at its maximum and only the
    scores have gradients). The layer is the whole feature pyramid (see :class:`_PyramidTap`),
    for the gradient methods less its mean (see :class:`_Centered`). Gradients flow from the
    image, with the detector's parameters frozen meanwhile: frozen stages,
    ``FrozenBatchNorm2d`` or a caller's ``torch.no_grad`` / ``torch.inference_mode`` do not
    stop them, and no ``.grad`` is left on the detector. Its ``requires_grad`` flags and hooks
    are as they were afterwards.

    Args:
        detector: a torchvision ``FasterRCNN`` with a feature pyramid, such as
            :func:`condet.models.detector.build_detector` and
            :func:`condet.inference.load_detector` return.
        image: float image ``[3, H, W]`` in [0, 1].
        method: ``gradcam``, ``gradcam++`` or ``eigencam``.
        score_threshold: the detections explained are those scoring at least this.

    Returns:
        The heatmap ``[H, W]`` in [0, 1], and the detections explained, on the CPU: ``boxes``
        ``[K, 4]`` (xyxy pixels), ``scores`` ``[K]`` and ``labels`` ``[K]`` (class index + 1,
        as torchvision's). With no detection a gradient method has nothing to explain, and its
        heatmap is all 0.
    """
    if method not in PYRAMID_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(PYRAMID_METHODS)}")
    detector = detector.eval()
    image = image.to(next(detector.parameters()).device)
    with torch.no_grad():
        output = detector([image])[0]
        resized = detector.transform([image])[0]
    keep = output["scores"] >= score_threshold
    found = {key: output[key][keep] for key in ("boxes", "scores", "labels")}
    detections = {key: value.cpu() for key, value in found.items()}
    if not keep.any() and method != "eigencam":
        return np.zeros(image.shape[-2:], dtype=np.float32), detections
    targets = [FasterRCNNBoxScoreTarget(labels=found["labels"], bounding_boxes=found["boxes"])]
    flags = [parameter.requires_grad for parameter in detector.parameters()]
    tap = _PyramidTap(detector.backbone, tuple(resized.image_sizes[0]))
    try:
        detector.requires_grad_(False)
        with (
            torch.enable_grad(),
            PYRAMID_METHODS[method](
                model=detector, target_layers=[tap.layer], reshape_transform=tap.reshape
            ) as cam,
        ):
            heatmap = cam(input_tensor=image[None].clone().requires_grad_(), targets=targets)[0]
    finally:
        tap.remove()
        for parameter, flag in zip(detector.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
    return heatmap, detections
