"""Heatmaps of backbones and crop encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from condet.errors import CondetError
from condet.explain.comparison import known_crops
from condet.explain.gradcam import PrototypeProjection, backbone_cam, encoder_cam
from condet.models.backbones import build_backbone
from condet.models.encoder import CropEncoder
from tests.helpers import hook_count


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


def test_contrastive_target_does_not_vanish_where_the_crop_matches_its_prototype():
    embedding = torch.tensor([[3.0, 4.0]], requires_grad=True)
    prototype = torch.nn.functional.normalize(embedding.detach(), dim=1)[0]
    PrototypeProjection(prototype)(embedding).backward()
    assert torch.allclose(embedding.grad[0], prototype)


def test_crops_at_their_prototypes_get_heatmaps():
    # the crops' own embeddings as prototypes: each crop sits at its cosine's maximum, where a
    # cosine target's gradient vanishes and its clipped heatmap came out blank
    torch.manual_seed(0)
    encoder = CropEncoder("mobilenet_v3_small", "random", 8, True, False).eval()
    crops = torch.randn(6, 3, 64, 64)
    with torch.no_grad():
        prototypes = torch.nn.functional.normalize(encoder(crops), dim=1)
    heatmaps = encoder_cam(encoder, crops, torch.arange(6), prototypes, known=range(6))
    # a map is scaled to a maximum of 1 unless its raw values are within noise of zero
    assert all(heatmap.max() > 0.99 for heatmap in heatmaps)


def test_explained_crops_are_of_known_classes_only():
    labels = torch.tensor([3, 0, 3, 1, 3, 0, 1, 3])
    chosen = known_crops(labels, known=[0, 1], count=3)
    assert labels[chosen].tolist() == [0, 1, 1] and chosen.tolist() == [1, 3, 6]
    assert known_crops(labels, known=[0, 1], count=10).tolist() == [1, 3, 5, 6]
    with pytest.raises(CondetError, match="no crop of a class the encoder knows"):
        known_crops(labels, known=[2], count=3)
