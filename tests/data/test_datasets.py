from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import tv_tensors

from condet.data import (
    DataError,
    DetectionDataset,
    detection_collate,
    detection_transforms,
    load_voc,
)
from condet.data.datasets import read_rgb


def test_items_in_torchvision_format(synthetic_root):
    voc = load_voc(synthetic_root, "train")
    dataset = DetectionDataset(voc)
    image, target = dataset[0]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
    assert image.shape == (3, voc[0].height, voc[0].width)
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    # VOC pixel indices 1..W become continuous [x1 - 1, x2]
    expected = voc[0].boxes.copy()
    expected[:, :2] -= 1
    np.testing.assert_array_equal(target["boxes"].numpy(), expected)
    np.testing.assert_array_equal(target["labels"].numpy(), voc[0].labels + 1)
    assert target["image_id"] == 0
    assert target["iscrowd"].dtype == torch.int64 and target["difficult"].dtype == torch.bool


def test_flip_moves_boxes_with_the_image(synthetic_root):
    voc = load_voc(synthetic_root, "train")
    plain = DetectionDataset(voc, transforms=detection_transforms(train=False))
    flipped = DetectionDataset(voc, transforms=detection_transforms(True, flip_probability=1.0))
    (image, target), (flipped_image, flipped_target) = plain[0], flipped[0]
    assert image.dtype == torch.float32 and image.min() >= 0 and image.max() <= 1
    torch.testing.assert_close(flipped_image, image.flip(-1))
    width = image.shape[-1]
    boxes = target["boxes"]
    expected = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    torch.testing.assert_close(flipped_target["boxes"].as_subclass(torch.Tensor), expected)
    assert len(flipped_target["difficult"]) == len(flipped_target["labels"])


def test_batches_through_a_dataloader(synthetic_root):
    dataset = DetectionDataset(load_voc(synthetic_root, "train"), detection_transforms(False))
    images, targets = next(iter(DataLoader(dataset, batch_size=3, collate_fn=detection_collate)))
    assert len(images) == len(targets) == 3


def test_size_mismatch_is_a_data_error(synthetic_root):
    image = load_voc(synthetic_root, "train")[0]
    image.width += 1
    with pytest.raises(DataError, match=r"image is 256x256 but its annotation says 257x256"):
        read_rgb(image)


def test_undecodable_image_is_a_data_error(synthetic_root, tmp_path):
    image = load_voc(synthetic_root, "train")[0]
    image.image_path = tmp_path / "broken.jpg"
    image.image_path.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: cannot decode the image"):
        read_rgb(image)
