"""Heatmaps of a Faster R-CNN's detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from condet.explain.detector_cam import detector_cam
from condet.models.detector import build_detector
from tests.explain.box_detector import EXPLAINED
from tests.helpers import hook_count


def test_detector_heatmap_covers_the_image():
    torch.manual_seed(0)
    detector = build_detector(
        num_classes=2, backbone="mobilenet_v3_large", weights="random", min_size=128, max_size=128
    ).eval()
    image = torch.rand(3, 96, 128)
    hooks = hook_count(detector)
    heatmap, detections = detector_cam(detector, image, "eigencam", score_threshold=0.0)
    assert heatmap.shape == (96, 128) and np.isfinite(heatmap).all()
    assert detections["boxes"].shape[1] == 4 and hook_count(detector) == hooks
    assert len(detections["scores"]) == len(detections["labels"]) == len(detections["boxes"])


def box_mask(shape: tuple[int, int], boxes: torch.Tensor) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x1, y1, x2, y2 in boxes.round().int().tolist():
        mask[y1:y2, x1:x2] = True
    return mask


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_detector_heatmaps_explain_the_detected_objects(trained, scenes, method):
    detector, _ = trained
    inside, outside = [], []
    for image, box in scenes[:EXPLAINED]:
        heatmap, detections = detector_cam(detector, image.float() / 255, method)
        assert heatmap.shape == (96, 128) and heatmap.min() >= 0 and heatmap.max() <= 1
        assert (box_iou(detections["boxes"], box)[:, 0] > 0.5).any()
        assert (detections["scores"] >= 0.5).all() and (detections["labels"] == 1).all()
        mask = box_mask(heatmap.shape, detections["boxes"])
        inside.append(heatmap[mask])
        outside.append(heatmap[~mask])
    heat = np.concatenate([*inside, *outside])
    assert heat.std() > 0
    if method == "eigencam":
        # pooled over the scenes: on one scene a map can light the box's edges more than its
        # inside (a flat box has nothing else to see), or the image border
        assert np.concatenate(inside).mean() > 2 * np.concatenate(outside).mean()


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_detector_cam_leaves_the_detector_as_it_was(trained, scenes, method):
    detector, _ = trained
    flags = [parameter.requires_grad for parameter in detector.parameters()]
    assert not all(flags)  # frozen stages
    hooks = hook_count(detector)
    image = scenes[0][0].float() / 255
    with torch.no_grad():
        heatmap, _ = detector_cam(detector, image, method)
    with torch.inference_mode():
        again, _ = detector_cam(detector, image, method)
    assert heatmap.std() > 0
    np.testing.assert_allclose(again, heatmap, atol=1e-5)
    assert [parameter.requires_grad for parameter in detector.parameters()] == flags
    assert all(parameter.grad is None for parameter in detector.parameters())
    assert hook_count(detector) == hooks


def test_detector_with_nothing_detected_has_nothing_to_explain(trained, scenes):
    detector, _ = trained
    image = scenes[0][0].float() / 255
    heatmap, detections = detector_cam(detector, image, "gradcam", score_threshold=1.1)
    assert heatmap.shape == (96, 128) and not heatmap.any()
    assert len(detections["boxes"]) == 0
    heatmap, _ = detector_cam(detector, image, "eigencam", score_threshold=1.1)
    assert heatmap.std() > 0  # EigenCAM needs no target
