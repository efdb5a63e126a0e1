from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from condet.cli import main
from condet.explain.gradcam import backbone_cam, detector_cam, encoder_cam, overlay, save_grid
from condet.models.backbones import build_backbone
from condet.models.detector import build_detector
from condet.train.classify import CropEncoder


def hook_count(module: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in module.modules()
    )


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_backbone_heatmaps_are_normalised_maps_and_leave_no_hooks(method):
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", "random")
    images = torch.randn(3, 3, 64, 80)
    for _ in range(5):  # repeated explanations must not pile up hooks (memory growth)
        heatmaps = backbone_cam(backbone, images, method)
    assert heatmaps.shape == (3, 64, 80)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 and heatmaps.std() > 0
    assert hook_count(backbone) == 0


def test_heatmap_follows_the_only_object_in_the_image():
    # a blank image with one bright square: the backbone responds where the square is
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", "random")
    image = torch.zeros(1, 3, 128, 128)
    image[:, :, 16:48, 80:112] = 3.0
    heatmap = backbone_cam(backbone, image, "eigencam")[0]
    inside = heatmap[16:48, 80:112].mean()
    outside = np.delete(heatmap, np.s_[8:56], axis=0).mean()
    assert inside > 2 * outside


@pytest.mark.parametrize("contrastive", [True, False])
def test_encoder_heatmaps_for_each_crop(contrastive):
    torch.manual_seed(0)
    encoder = CropEncoder(
        "mobilenet_v3_small", "random", 8 if contrastive else 3, contrastive, False
    )
    crops = torch.randn(4, 3, 64, 64)
    labels = torch.tensor([0, 2, 4, 2])
    prototypes = torch.nn.functional.normalize(torch.randn(5, 8), dim=1) if contrastive else None
    heatmaps = encoder_cam(encoder, crops, labels, prototypes, known=[0, 2, 4])
    assert heatmaps.shape == (4, 64, 64) and np.isfinite(heatmaps).all()
    assert hook_count(encoder) == 0


def test_detector_heatmap_covers_the_image():
    torch.manual_seed(0)
    detector = build_detector(
        "mobilenet_v3_large", 2, weights="random", min_size=128, max_size=128
    ).eval()
    image = torch.rand(3, 96, 128)
    heatmap, boxes = detector_cam(detector, image, score_threshold=0.0)
    assert heatmap.shape == (96, 128) and np.isfinite(heatmap).all()
    assert boxes.shape[1] == 4 and hook_count(detector) == 0


def test_grid_has_one_row_per_image_and_one_column_per_model(tmp_path):
    picture = overlay(torch.rand(3, 32, 32), np.random.default_rng(0).random((32, 32)))
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    path = save_grid([[picture] * 3] * 2, ["image", "a", "b"], tmp_path / "grid.png", "title")
    width, height = Image.open(path).size
    assert width > height  # 3 columns, 2 rows


@pytest.mark.slow
def test_explain_command_puts_models_side_by_side(synthetic_root, tmp_path):
    out = tmp_path / "gradcam.png"
    argv = ["explain", str(synthetic_root), "--split", "test", "--kind", "backbone"]
    argv += ["--backbone", "resnet18", "--model", "a=random", "--model", "b=random"]
    assert main([*argv, "--images", "2", "--size", "64", "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 0
