from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from condet.data import ObjectCropDataset, crop_boxes, load_voc
from condet.data import crops as crops_module


def test_crop_matches_a_manual_crop_and_resize():
    image = torch.arange(3 * 40 * 50, dtype=torch.float32).reshape(3, 40, 50)
    (crop,) = crop_boxes(image, [[10, 5, 30, 25]], size=8)
    expected = F.resize(image[:, 5:25, 10:30], [8, 8], antialias=True)
    torch.testing.assert_close(crop, expected)


def test_context_widens_the_crop_and_is_clipped_to_the_image():
    image = torch.zeros(3, 40, 50)
    image[:, 10:20, 10:20] = 1.0
    (tight,) = crop_boxes(image, [[10, 10, 20, 20]], size=10)
    (wide,) = crop_boxes(image, [[10, 10, 20, 20]], size=10, context=0.5)
    assert tight.min() == 1.0
    assert wide[:, :2].max() == 0.0 and wide[:, 4:6, 4:6].min() == 1.0
    (edge,) = crop_boxes(image, [[0, 0, 10, 10]], size=10, context=0.5)
    assert edge.shape == (3, 10, 10)


def test_every_object_once_with_its_label(synthetic_root, tmp_path):
    voc = load_voc(synthetic_root, "train")
    crops = ObjectCropDataset(voc, size=32, cache_dir=tmp_path, progress=False)
    assert crops.crops.shape == (voc.num_objects, 3, 32, 32)
    assert crops.crops.dtype == torch.uint8
    labels = torch.cat([torch.from_numpy(image.labels) for image in voc])
    torch.testing.assert_close(crops.labels, labels)
    crop, label = crops[0]
    assert crop.shape == (3, 32, 32) and label == int(labels[0])
    assert crops.classes == voc.classes


def test_second_use_reads_the_cache_and_no_image(synthetic_root, tmp_path, monkeypatch):
    voc = load_voc(synthetic_root, "train")
    first = ObjectCropDataset(voc, size=16, cache_dir=tmp_path, progress=False)
    assert first.cache_path.is_file()

    def no_decoding(image):
        raise AssertionError("a JPEG was decoded")

    monkeypatch.setattr(crops_module, "read_rgb", no_decoding)
    second = ObjectCropDataset(voc, size=16, cache_dir=tmp_path, progress=False)
    torch.testing.assert_close(second.crops, first.crops)
    with pytest.raises(AssertionError, match="decoded"):
        ObjectCropDataset(voc, size=24, cache_dir=tmp_path, progress=False)
    with pytest.raises(AssertionError, match="decoded"):
        ObjectCropDataset(voc[:3], size=16, cache_dir=tmp_path, progress=False)


def test_difficult_objects_can_be_left_out(synthetic_root):
    voc = load_voc(synthetic_root, "trainval")
    # the synthetic objects are all at least 60% visible, none difficult: mark a few
    for image in voc[:5]:
        image.difficult[0] = True
    difficult = sum(int(image.difficult.sum()) for image in voc)
    assert difficult == 5
    kept = ObjectCropDataset(voc, size=8, include_difficult=False, progress=False)
    assert len(kept) == voc.num_objects - difficult and not kept.difficult.any()


def test_transform_is_applied_per_item(synthetic_root):
    voc = load_voc(synthetic_root, "train")
    crops = ObjectCropDataset(voc, size=8, transform=lambda c: c.float() / 255, progress=False)
    assert crops[0][0].dtype == torch.float32
