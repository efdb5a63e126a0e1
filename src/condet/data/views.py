"""The two augmented views of a batch that contrastive training compares: SimCLR's augmentation
of whole images, the crop augmentation of object crops, and the seeded pair of views."""

from __future__ import annotations

import torch

from condet.data.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize


class SimCLRAugmentation(torch.nn.Module):
    """SimCLR's view augmentation (Chen et al. 2020), batched, with per-image randomness.

    Random resized crop (scale 0.08-1), horizontal flip, colour jitter (0.8, 0.8, 0.8, 0.2
    with p = 0.8), grayscale (p = 0.2) and Gaussian blur (p = 0.5, sigma 0.1-2, a kernel of a
    tenth of the image) where the views are at least ``blur_min_size`` pixels (SimCLR drops the
    blur on CIFAR's 32 pixels), then normalisation by ``mean`` / ``std`` (ImageNet's by
    default). These are lightly's
    ``SimCLRTransform`` defaults. The whole batch is transformed at once on its device by
    kornia, which draws each image's parameters, instead of per PIL image in data-loader
    workers, so on a few CPU cores the model, not the data, sets the pace.

    Args:
        size: side of the square views.
        min_scale: smallest crop area, as a fraction of the image.
        blur_min_size: views smaller than this get no blur.
        mean, std: of [0, 1] pixels, the normalisation the backbone expects.
        color_jitter: brightness, contrast, saturation and hue of the jitter.
        blur: whether views of at least ``blur_min_size`` pixels are blurred.

    >>> augment = SimCLRAugmentation(64)
    >>> view = augment(torch.randint(0, 255, (8, 3, 80, 80), dtype=torch.uint8))
    >>> view.shape
    torch.Size([8, 3, 64, 64])
    """

    def __init__(
        self,
        size: int,
        min_scale: float = 0.08,
        blur_min_size: int = 96,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        color_jitter: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 0.2),
        blur: bool = True,
    ) -> None:
        super().__init__()
        import kornia.augmentation as K

        steps: list[torch.nn.Module] = [
            K.RandomResizedCrop((size, size), scale=(min_scale, 1.0)),
            K.RandomHorizontalFlip(p=0.5),
            K.ColorJitter(*color_jitter, p=0.8),
            K.RandomGrayscale(p=0.2),
        ]
        if blur and size >= blur_min_size:
            kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
            steps.append(K.RandomGaussianBlur((kernel, kernel), sigma=(0.1, 2.0), p=0.5))
        self.augment = torch.nn.Sequential(*steps)
        self.normalize = Normalize(mean, std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> one normalised float view ``[B, 3, size, size]``."""
        return self.normalize(self.augment(images.float().div_(255)))


def crop_augmentation(
    size: int, min_scale: float, mean: list[float], std: list[float]
) -> SimCLRAugmentation:
    """The contrastive-detection report's crop augmentation: SimCLR's with half the colour
    jitter (0.4, 0.4, 0.4, 0.1) and no blur."""
    return SimCLRAugmentation(
        size, min_scale, mean=mean, std=std, color_jitter=(0.4, 0.4, 0.4, 0.1), blur=False
    )


class TwoViews:
    """Two augmented views of a uint8 batch, the random draw seeded by ``(seed, rank, step)``.

    Seeding by the step makes a resumed run see exactly the views it would have seen, wherever
    the views are made (a data-loading worker or the training device). ``augment`` maps a uint8
    batch to one normalised float view (:class:`SimCLRAugmentation`, :func:`crop_augmentation`).
    """

    def __init__(self, augment: torch.nn.Module, seed: int, rank: int) -> None:
        self.augment = augment
        self.base_seed = (seed * 1_000_003 + rank) * 1_000_003

    def to(self, device: torch.device) -> TwoViews:
        """Moves the augmentation (its normalisation buffers) to ``device``."""
        self.augment = self.augment.to(device)
        return self

    def __call__(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.base_seed + int(step))
            return self.augment(images), self.augment(images)


class LabelledTwoViews:
    """:class:`TwoViews` of ``(images, labels)`` batches: ``(first, second, labels)``, the
    labels passed through untouched."""

    def __init__(self, views: TwoViews) -> None:
        self.views = views

    def to(self, device: torch.device) -> LabelledTwoViews:
        """Moves the augmentation to ``device``."""
        self.views.to(device)
        return self

    def __call__(
        self, batch: tuple[torch.Tensor, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images, labels = batch
        first, second = self.views(images, step)
        return first, second, labels
