"""The strong augmentation of teacher–student detection, boxes moving with the image.

Unbiased Teacher (Liu et al., ICLR 2021) trains its student on strongly augmented images and
the teacher's boxes for the weakly augmented (flipped) ones; STAC (Sohn et al. 2020) does the
same with boxes labelled once. Their strong augmentation is SimCLR's colour jitter (0.4, 0.4,
0.4, 0.1; p = 0.8), grayscale (p = 0.2), Gaussian blur (sigma 0.1-2, p = 0.5) and three cutouts
of random values (p = 0.7 / 0.5 / 0.3, 2-20% of the image); here also a horizontal flip and a
scale jitter (zoom 0.8-1.2 about the centre, as STAC's geometric augmentation), which only
``torchvision.transforms.v2`` can apply because it moves the boxes with the image. Cutouts
leave boxes as they are, as in both papers: a partly hidden object is still one.

Unbiased Teacher augments images already resized to the detector's input; condet augments them
at their own size, before the detector resizes them. The blur's sigma is therefore drawn in
pixels of the detector's input (:class:`InputScaleGaussianBlur`): drawn in the image's own
pixels, a 1024x768 image shrunk to 320 pixels would see a third of the paper's blur.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from condet.data.detection_transforms import PER_BOX_KEYS


def _per_box_tensors(inputs: Any) -> tuple[torch.Tensor, ...]:
    target = inputs[1]
    return tuple(target[key] for key in PER_BOX_KEYS if key in target)


class InputScaleGaussianBlur(v2.Transform):
    """Gaussian blur whose sigma is drawn uniformly from ``sigma`` in pixels of the detector's
    input (the image resized so that its short side is ``min_size`` and its long side at most
    ``max_size``, as torchvision's detectors do), and applied at the image's own size; the
    kernel reaches 3 sigma each side, as PIL's blur (Unbiased Teacher's) does.

    >>> blur = InputScaleGaussianBlur(min_size=320, max_size=640, sigma=(1.0, 1.0))
    >>> blur.make_params([torch.zeros(3, 640, 960)])
    {'sigma': [2.0, 2.0], 'kernel_size': [13, 13]}
    """

    def __init__(
        self, min_size: int, max_size: int, sigma: tuple[float, float] = (0.1, 2.0)
    ) -> None:
        super().__init__()
        self.min_size, self.max_size, self.sigma = min_size, max_size, sigma

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
        sigma = torch.empty(1).uniform_(*self.sigma).item() / scale
        kernel_size = 2 * math.ceil(3 * sigma) + 1
        return {"sigma": [sigma, sigma], "kernel_size": [kernel_size, kernel_size]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(F.gaussian_blur, inpt, **params)


class StrongAugmentation(v2.Compose):
    """``(image, target) -> (image, target)`` for float images in [0, 1] (on any device) and
    targets whose ``boxes`` are ``tv_tensors.BoundingBoxes``; boxes pushed out of the image are
    dropped with their labels. ``min_size`` and ``max_size`` are the detector's input sizes.

    >>> from torchvision import tv_tensors
    >>> image = tv_tensors.Image(torch.rand(3, 64, 80))
    >>> boxes = tv_tensors.BoundingBoxes([[8, 8, 40, 50]], format="XYXY", canvas_size=(64, 80))
    >>> strong = StrongAugmentation(min_size=320, max_size=427)
    >>> image, target = strong(image, {"boxes": boxes, "labels": torch.tensor([1])})
    >>> image.shape, target["labels"].tolist()
    (torch.Size([3, 64, 80]), [1])
    """

    def __init__(self, min_size: int, max_size: int) -> None:
        super().__init__(
            [
                v2.RandomHorizontalFlip(0.5),
                v2.RandomAffine(degrees=0.0, scale=(0.8, 1.2)),
                v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                v2.RandomGrayscale(p=0.2),
                v2.RandomApply([InputScaleGaussianBlur(min_size, max_size)], p=0.5),
                v2.RandomErasing(p=0.7, scale=(0.05, 0.2), ratio=(0.3, 3.3), value="random"),
                v2.RandomErasing(p=0.5, scale=(0.02, 0.2), ratio=(0.1, 6.0), value="random"),
                v2.RandomErasing(p=0.3, scale=(0.02, 0.2), ratio=(0.05, 8.0), value="random"),
                v2.SanitizeBoundingBoxes(labels_getter=_per_box_tensors),
            ]
        )

    def forward(self, *inputs: Any) -> Any:
        with warnings.catch_warnings():
            # cutouts keep the boxes on purpose (see the module's docstring)
            warnings.filterwarnings("ignore", message="RandomErasing.*BoundingBoxes")
            return super().forward(*inputs)
