"""``write_dataset``: pre-labels as VOC, COCO and YOLO data sets that condet reads back and
``condet data check`` passes."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from condet.cli import main
from condet.data import load_annotations, load_voc
from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.datasets import continuous_boxes
from condet.data.export import DATASET_FORMATS, write_dataset
from condet.errors import CondetError

SPLIT = {"voc": "train", "coco": None, "yolo": "train"}


def continuous(annotations: Annotations) -> Annotations:
    """``annotations`` in continuous pixel coordinates, as a detector's predictions are."""
    images = [
        replace(image, boxes=continuous_boxes(image, annotations.one_based))
        for image in annotations
    ]
    return annotations.derive(images, one_based=False)


@pytest.fixture(scope="module")
def predicted(synthetic_root) -> Annotations:
    return continuous(load_voc(synthetic_root, "train")[:6])


@pytest.mark.parametrize("data_format", DATASET_FORMATS)
def test_an_export_reads_back_with_its_boxes_and_passes_data_check(
    predicted, tmp_path, data_format
):
    path = write_dataset(predicted, tmp_path / "out", data_format)
    assert main(["data", "check", str(path)]) == 0
    read = continuous(load_annotations(path, SPLIT[data_format]))
    # VOC has no class list: a reader finds the names its files use
    present = sorted({predicted.classes[label] for image in predicted for label in image.labels})
    assert read.classes == (present if data_format == "voc" else predicted.classes)
    by_name = {image.image_path.name: image for image in read}
    # VOC corners are whole pixels; YOLO keeps six decimals of a normalised coordinate
    tolerance = {"voc": 0.5, "coco": 1e-4, "yolo": 1e-3}[data_format]
    for image in predicted:
        back = by_name[image.image_path.name]
        assert [read.classes[label] for label in back.labels] == [
            predicted.classes[label] for label in image.labels
        ]
        np.testing.assert_allclose(back.boxes, image.boxes, atol=tolerance)


@pytest.mark.parametrize("data_format", DATASET_FORMATS)
def test_pre_labels_written_into_the_folder_of_their_images_keep_the_images(
    predicted, tmp_path, data_format
):
    """Correct, then predict the corrected set again into the same folder: the images stay."""
    path = write_dataset(predicted, tmp_path / "pre", data_format)
    read = continuous(load_annotations(path, SPLIT[data_format]))
    again = write_dataset(read, tmp_path / "pre", data_format)
    assert all(image.image_path.is_file() for image in read)
    assert main(["data", "check", str(again)]) == 0


def test_two_images_of_one_stem_are_one_line_where_the_format_names_files_by_stem(
    predicted, tmp_path
):
    image = predicted[0]
    folder = tmp_path / "images"
    folder.mkdir()
    jpeg = shutil.copy(image.image_path, folder / "a.jpg")
    with Image.open(jpeg) as opened:
        opened.save(folder / "a.png")
    images = [
        ImageAnnotation(path.stem, path, image.width, image.height, image.boxes, image.labels)
        for path in (folder / "a.jpg", folder / "a.png")
    ]
    same_stem = predicted.derive(images)
    for data_format in ("voc", "yolo"):
        with pytest.raises(CondetError, match=f"two images are named a: a {data_format} data"):
            write_dataset(same_stem, tmp_path / data_format, data_format)
    path = write_dataset(same_stem, tmp_path / "coco", "coco")
    assert len(load_annotations(path)) == 2


def test_a_box_under_two_pixels_stays_a_readable_voc_box_that_covers_it(predicted, tmp_path):
    image = predicted[0]
    width = image.width
    boxes = np.array([[10.2, 5.0, 11.4, 12.0], [width - 0.6, 5.0, width - 0.2, 12.0]])
    tiny = predicted.derive(
        [
            ImageAnnotation(
                image.image_id, image.image_path, width, image.height, boxes, np.array([0, 0])
            )
        ]
    )
    path = write_dataset(tiny, tmp_path / "voc", "voc")
    assert main(["data", "check", str(path)]) == 0
    read = continuous(load_annotations(path, "train"))[0].boxes
    assert (read[:, 2:] - read[:, :2] >= 2).all()
    assert (read[:, 2] <= width).all() and (read[:, 0] >= 0).all()
    assert (np.abs(read - boxes) <= 2).all()
