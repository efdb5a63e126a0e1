from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from condet.data import DataError, load_coco, load_voc, parse_coco_json, to_coco_dict, write_coco
from tests.helpers import make_voc, voc_xml


def coco_text(images=None, annotations=None, categories=None) -> str:
    return json.dumps(
        {
            "images": images
            if images is not None
            else [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
            "annotations": annotations
            if annotations is not None
            else [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40]}],
            "categories": categories
            if categories is not None
            else [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}],
        }
    )


@pytest.mark.shared_data
class TestCoco128:
    def test_counts_crowd_and_images_without_boxes(self, shared_data):
        root = shared_data / "coco128"
        coco = load_coco(
            root / "annotations" / "instances_train2017.json",
            image_root=root / "images" / "train2017",
        )
        assert len(coco) == 128
        assert coco.num_objects == 939
        assert sum(int(image.iscrowd.sum()) for image in coco) == 10
        assert sorted(image.image_id for image in coco if len(image) == 0) == ["250", "508"]
        assert len(coco.classes) == 80 and coco.classes[0] == "person"
        assert coco.category_ids[-1] == 90
        assert all(image.image_path.is_file() for image in coco)
        assert not coco.problems

    def test_images_are_found_in_coco_s_layout_without_an_image_root(self, shared_data):
        root = shared_data / "coco128"
        coco = load_coco(root / "annotations" / "instances_train2017.json")
        assert all(image.image_path.is_file() for image in coco) and not coco.problems

    def test_boxes_are_xyxy(self, shared_data):
        root = shared_data / "coco128"
        path = root / "annotations" / "instances_train2017.json"
        raw = json.loads(path.read_text())
        coco = load_coco(path, image_root=root / "images" / "train2017")
        first = raw["annotations"][0]
        image = next(i for i in coco if i.image_id == str(first["image_id"]))
        x, y, w, h = first["bbox"]
        assert np.isclose(image.boxes, [x, y, x + w, y + h], atol=1e-3).all(axis=1).any()

    def test_round_trip_through_the_writer(self, shared_data, tmp_path):
        root = shared_data / "coco128"
        images = root / "images" / "train2017"
        coco = load_coco(root / "annotations" / "instances_train2017.json", image_root=images)
        again = load_coco(write_coco(coco, tmp_path / "out.json"), image_root=images)
        assert again.classes == coco.classes and again.category_ids == coco.category_ids
        for before, after in zip(coco, again, strict=True):
            assert before.image_id == after.image_id
            np.testing.assert_allclose(before.boxes, after.boxes, atol=1e-3)
            np.testing.assert_array_equal(before.labels, after.labels)
            np.testing.assert_array_equal(before.iscrowd, after.iscrowd)


@pytest.mark.parametrize(
    "folder", ["annotations", "annotations/images", "val2017", "images/val2017"]
)
def test_the_image_folder_is_found_beside_the_json_or_in_coco_s_layout(tmp_path, folder):
    (tmp_path / folder).mkdir(parents=True)
    Image.new("RGB", (100, 80)).save(tmp_path / folder / "a.jpg")
    (tmp_path / "annotations").mkdir(exist_ok=True)
    path = tmp_path / "annotations" / "instances_val2017.json"
    path.write_text(coco_text())
    coco = load_coco(path)
    assert next(iter(coco)).image_path == tmp_path / folder / "a.jpg"


def test_categories_in_id_order_and_labels_index_them():
    coco = parse_coco_json(coco_text())
    assert coco.classes == ["dog", "cat"] and coco.category_ids == [1, 3]
    assert coco[0].labels.tolist() == [1]
    np.testing.assert_array_equal(coco[0].boxes, [[10, 20, 40, 60]])


def test_voc_boxes_become_continuous_coordinates(tmp_path):
    root = make_voc(
        tmp_path / "d", {"a": voc_xml([("cat", (1, 1, 10, 20))], difficult=(0,))}, {"train": ["a"]}
    )
    coco = to_coco_dict(load_voc(root, "train"))
    (annotation,) = coco["annotations"]
    # VOC pixel 1..10 inclusive is the continuous interval [0, 10]: 10 pixels wide
    assert annotation["bbox"] == [0.0, 0.0, 10.0, 20.0]
    assert annotation["difficult"] == 1 and annotation["iscrowd"] == 0
    assert coco["images"][0]["id"] == 1
    assert coco["categories"] == [{"id": 1, "name": "cat", "supercategory": "cat"}]


class TestBadInput:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("{", "malformed JSON"),
            ("[]", "no 'images' list"),
            (coco_text(categories=[{"id": 1}]), "needs an 'id' and a 'name'"),
            (coco_text(categories=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]), "duplicate"),
        ],
    )
    def test_unreadable_file(self, text, message):
        with pytest.raises(DataError, match=message):
            parse_coco_json(text, "x.json", skip_invalid=True)

    @pytest.mark.parametrize(
        ("annotation", "message"),
        [
            ({"image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5]}, "unknown image_id 7"),
            ({"image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}, "unknown category_id 9"),
            ({"image_id": 1, "category_id": 3, "bbox": [1, 1, 5]}, "not a list of 4 numbers"),
            ({"image_id": 1, "category_id": 3, "bbox": [1, 1, 0, 5]}, "degenerate box"),
            ({"image_id": 1, "category_id": 3, "bbox": [90, 1, 50, 5]}, "outside the 100x80"),
        ],
    )
    def test_bad_annotation_is_skipped_alone(self, annotation, message):
        good = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}
        text = coco_text(annotations=[annotation, good])
        with pytest.raises(DataError, match=rf"x\.json: annotations\[1\].*{message}"):
            parse_coco_json(text, "x.json")
        coco = parse_coco_json(text, "x.json", skip_invalid=True)
        assert coco.num_objects == 1 and len(coco.problems) == 1

    def test_class_outside_the_requested_classes(self):
        with pytest.raises(DataError, match="'cat' is not among the requested classes"):
            parse_coco_json(coco_text(), "x.json", classes=["dog"])

    def test_bad_image_entry(self):
        text = coco_text(images=[{"id": 1, "file_name": "a.jpg", "width": 0, "height": 5}])
        with pytest.raises(DataError, match=r"images\[1\]: 'width' is 0"):
            parse_coco_json(text, "x.json")

    def test_missing_file(self, tmp_path):
        with pytest.raises(DataError, match="COCO JSON file not found"):
            load_coco(tmp_path / "none.json")
