from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from condet.data import DataError, load_coco, load_yolo, parse_yolo_labels
from tests.helpers import make_yolo

AQUARIUM_SPLITS = {
    "train": ("train", 448, 3324),
    "val": ("valid", 127, 909),
    "test": ("test", 63, 584),
}


@pytest.mark.shared_data
class TestAquarium:
    def test_counts_per_split_and_class(self, shared_data):
        data_yaml = shared_data / "aquarium" / "data.yaml"
        total_images = total_boxes = 0
        for split, (_, images, boxes) in AQUARIUM_SPLITS.items():
            aquarium = load_yolo(data_yaml, split, skip_invalid=True)
            assert len(aquarium) == images
            # the two zero-size test boxes are reported, not kept
            assert aquarium.num_objects + len(aquarium.problems) == boxes
            total_images += len(aquarium)
            total_boxes += aquarium.num_objects + len(aquarium.problems)
        assert (total_images, total_boxes) == (638, 4817)
        train = load_yolo(data_yaml, "train")
        assert train.classes == [
            "fish",
            "jellyfish",
            "penguin",
            "puffin",
            "shark",
            "starfish",
            "stingray",
        ]
        assert train.object_counts() == Counter(
            fish=1961, jellyfish=385, penguin=330, shark=259, puffin=175, stingray=136, starfish=78
        )
        assert sum(1 for image in train if len(image) == 0) == 1

    def test_the_degenerate_test_boxes_are_reported(self, shared_data):
        with pytest.raises(DataError, match=r"labels/IMG_2423.*line 17 \(shark\): degenerate"):
            load_yolo(shared_data / "aquarium" / "data.yaml", "test")

    @pytest.mark.parametrize("split", list(AQUARIUM_SPLITS))
    def test_yolo_and_coco_copies_agree_box_for_box(self, shared_data, split):
        folder = AQUARIUM_SPLITS[split][0]
        yolo = load_yolo(shared_data / "aquarium" / "data.yaml", split, skip_invalid=True)
        coco = load_coco(
            shared_data / "aquarium" / folder / "_annotations.derived.coco.json",
            skip_invalid=True,
        )
        assert yolo.classes == coco.classes
        assert len(yolo.problems) == len(coco.problems)
        by_name = {image.image_path.name: image for image in coco}
        assert sorted(by_name) == sorted(image.image_path.name for image in yolo)
        for image in yolo:
            other = by_name[image.image_path.name]
            assert other.image_path == image.image_path
            assert (other.width, other.height) == (image.width, image.height)
            np.testing.assert_allclose(other.boxes, image.boxes, atol=1e-3)
            np.testing.assert_array_equal(other.labels, image.labels)


def test_boxes_from_normalized_centres(tmp_path):
    data_yaml = make_yolo(tmp_path, {"a": "1 0.5 0.5 0.2 0.25\n"}, ["cat", "dog"])
    (image,) = load_yolo(data_yaml, "train")
    np.testing.assert_allclose(image.boxes, [[40, 30, 60, 50]])
    assert image.labels.tolist() == [1]


def test_polygon_lines_are_boxed_and_images_without_labels_are_empty(tmp_path):
    data_yaml = make_yolo(tmp_path, {"a": "0 0.1 0.1 0.3 0.2 0.2 0.5\n"}, ["cat"])
    (tmp_path / "train" / "images" / "b.jpg").write_bytes(
        (tmp_path / "train" / "images" / "a.jpg").read_bytes()
    )
    a, b = load_yolo(data_yaml, "train")
    np.testing.assert_allclose(a.boxes, [[10, 8, 30, 40]], atol=1e-4)
    assert len(b) == 0


def test_names_as_mapping(tmp_path):
    data_yaml = make_yolo(tmp_path, {"a": ""}, ["x"])
    data_yaml.write_text("path: .\ntrain: train/images\nnames: {0: cat, 1: dog}\n")
    assert load_yolo(data_yaml, "train").classes == ["cat", "dog"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("0 0.5 0.5 0.2\n", "expected 'class cx cy w h'"),
            ("0 0.5 0.5 0.2 zero\n", "not numbers"),
            ("5 0.5 0.5 0.2 0.2\n", r"class 5 is not in 0\.\.1"),
            ("0.5 0.5 0.5 0.2 0.2\n", r"class 0\.5 is not in"),
            ("0 0.5 0.5 -0.2 0.2\n", "negative box size"),
            ("0 0.5 0.5 nan 0.2\n", "non-finite"),
        ],
    )
    def test_malformed_line(self, text, message):
        with pytest.raises(DataError, match=rf"a\.txt: line 1: {message}"):
            parse_yolo_labels(text, 2, "a.txt")

    @pytest.mark.parametrize(
        ("text", "message"),
        [("0 0.5 0.5 0 0\n", "degenerate box"), ("0 1.5 0.5 0.2 0.2\n", "outside the 100x80")],
    )
    def test_bad_box_is_skipped_alone(self, tmp_path, text, message):
        data_yaml = make_yolo(tmp_path, {"a": text + "1 0.5 0.5 0.2 0.2\n"}, ["cat", "dog"])
        with pytest.raises(DataError, match=rf"a\.txt: line 1 \(cat\): .*{message}"):
            load_yolo(data_yaml, "train")
        (image,) = load_yolo(data_yaml, "train", skip_invalid=True)
        assert image.labels.tolist() == [1]

    def test_unknown_split_lists_the_splits(self, tmp_path):
        data_yaml = make_yolo(tmp_path, {"a": ""}, ["cat"])
        with pytest.raises(DataError, match=r"no split 'val' \(splits: train\)"):
            load_yolo(data_yaml, "val")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("names: [", "malformed YAML"),
            ("train: train/images\n", "'names' must be"),
            ("train: train/images\nnames: [a]\nnc: 2\n", "nc is 2 but 1 names"),
        ],
    )
    def test_bad_data_yaml(self, tmp_path, text, message):
        data_yaml = make_yolo(tmp_path, {"a": ""}, ["cat"])
        data_yaml.write_text(text)
        with pytest.raises(DataError, match=message):
            load_yolo(data_yaml, "train")
