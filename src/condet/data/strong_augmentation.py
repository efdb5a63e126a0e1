"""The strong augmentation of teacher–student detection, boxes moving with the image.

Unbiased Teacher (Liu et al., ICLR 2021) trains its student on strongly augmented images and
the teacher's boxes for the weakly augmented (flipped) ones; STAC (Sohn et al. 2020) does the
same with boxes labelled once. Their strong augmentation is SimCLR's colour jitter (0.4, 0.4,
0.4, 0.1; p = 0.8), grayscale (p = 0.2), Gaussian blur (sigma 0.1-2, p = 0.5) and three cutouts
of random values (p = 0.7 / 0.5 / 0.3, 2-20% of the image); here also a horizontal flip and a
scale jitter (zoom 0.8-1.2 about the centre, as STAC's geometric augmentation), which only
``torchvision.transforms.v2`` can apply because it moves the boxes with the image. Cutouts
leave boxes as they are, as in both papers: a partly hidden object is still one.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torchvision.transforms import v2

from condet.data.detection_transforms import PER_BOX_KEYS


def _per_box_tensors(inputs: Any) -> tuple[torch.Tensor, ...]:
    target = inputs[1]
    return tuple(target[key] for key in PER_BOX_KEYS if key in target)


class StrongAugmentation(v2.Compose):
    """``(image, target) -> (image, target)`` for float images in [0, 1] (on any device) and
    targets whose ``boxes`` are ``tv_tensors.BoundingBoxes``; boxes pushed out of the image are
    dropped with their labels.

    >>> from torchvision import tv_tensors
    >>> image = tv_tensors.Image(torch.rand(3, 64, 80))
    >>> boxes = tv_tensors.BoundingBoxes([[8, 8, 40, 50]], format="XYXY", canvas_size=(64, 80))
    >>> image, target = StrongAugmentation()(image, {"boxes": boxes, "labels": torch.tensor([1])})
    >>> image.shape, target["labels"].tolist()
    (torch.Size([3, 64, 80]), [1])
    """

    def __init__(self) -> None:
        super().__init__(
            [
                v2.RandomHorizontalFlip(0.5),
                v2.RandomAffine(degrees=0.0, scale=(0.8, 1.2)),
                v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                v2.RandomGrayscale(p=0.2),
                v2.RandomApply([v2.GaussianBlur(9, sigma=(0.1, 2.0))], p=0.5),
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
