"""A small Faster R-CNN trained on scenes of one bright box, for the detector CAM tests."""

from __future__ import annotations

import copy

import torch
from torchvision.ops import box_iou

from condet.models.detector import detector_from_config

# A Faster R-CNN trained until it finds the one bright box of each scene (a few
# seconds). Its backbone is EfficientNet-Lite0 with the ImageNet weights that come with condet's
# dependencies (nothing is downloaded), with what a detector of the paper's "ImageNet start" has:
# FrozenBatchNorm2d and a frozen stem and first stage.
DETECTOR_CONFIG = {
    "backbone": "efficientnet_lite0",
    "weights": "imagenet",
    "trainable_stages": 3,
    "norm": "auto",
    "class_agnostic": False,
    "min_size": 96,
    "max_size": 128,
    "smallest_stride": 8,
    "fpn_channels": 32,
    "proposals": 64,
    "roi_samples": 64,
}
EXPLAINED = 4  # scenes explained (and the detector trained until it finds their boxes)
# A detector this young is not always explained well by its gradients. Over eight seeds the
# heat of GradCAM and GradCAM++ inside the boxes was 0.8 to 13 times that outside when first
# measured. On a later machine (Xeon with AVX-512 and AMX, 2026-12-02) it was 0.07 to 2.9 times,
# and below 1 for three to four seeds of each method. Training to a fixed 100 steps instead gave
# 0.3 to 3.6 times, still below 1 for two seeds. EigenCAM gave 4 to 18 times on every seed
# and machine. So only EigenCAM's heat is required to lie on the boxes; the gradient methods are
# checked for what holds on every seed: a heatmap in [0, 1] that is not flat, and the
# detections they explain. The training is seeded and single-threaded: threads change the sums,
# and so the detector.
SEED = 2


def box_scene(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A uint8 image ``[3, 96, 128]``: dim noise with one bright rectangle, and its box."""
    height, width = 96, 128
    image = (torch.rand(3, height, width, generator=generator) * 50).byte()
    box_width = int(torch.randint(width // 3, width // 2, (1,), generator=generator))
    box_height = int(torch.randint(height // 3, height // 2, (1,), generator=generator))
    x = int(torch.randint(0, width - box_width, (1,), generator=generator))
    y = int(torch.randint(0, height - box_height, (1,), generator=generator))
    image[:, y : y + box_height, x : x + box_width] = torch.tensor([230, 200, 50])[:, None, None]
    return image, torch.tensor([[x, y, x + box_width, y + box_height]], dtype=torch.float32)


def make_scenes() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eight box scenes, drawn from :data:`SEED`."""
    generator = torch.Generator().manual_seed(SEED)
    return [box_scene(generator) for _ in range(8)]


def finds_every_box(detector: torch.nn.Module, scenes) -> bool:
    detector.eval()
    with torch.no_grad():
        outputs = detector([image.float() / 255 for image, _ in scenes])
    detector.train()
    return all(
        ((output["scores"] >= 0.5) & (box_iou(output["boxes"], box)[:, 0] > 0.5)).any()
        for output, (_, box) in zip(outputs, scenes, strict=True)
    )


def train_until_it_finds_the_boxes(detector: torch.nn.Module, scenes, steps: int = 60) -> None:
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=0.02, momentum=0.9)
    detector.train()
    for step in range(1, steps + 1):
        batch = [scenes[(2 * step + offset) % len(scenes)] for offset in range(2)]
        targets = [{"boxes": box, "labels": torch.ones(1, dtype=torch.long)} for _, box in batch]
        losses = detector([image.float() / 255 for image, _ in batch], targets)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        # a few images and a high rate: unclipped, a bad step can blow the heads up
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        if step % 5 == 0 and finds_every_box(detector, scenes[:EXPLAINED]):
            return


def train_box_detector(scenes) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The trained detector, and its weights before training (untrained heads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            detector = detector_from_config(DETECTOR_CONFIG, num_classes=1)
            untrained = copy.deepcopy(detector.state_dict())
            train_until_it_finds_the_boxes(detector, scenes)
    finally:
        torch.set_num_threads(threads)
    assert finds_every_box(detector, scenes[:EXPLAINED]), "the test detector did not learn"
    return detector.eval(), untrained
