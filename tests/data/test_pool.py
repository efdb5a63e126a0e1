from __future__ import annotations

import json
import shutil

import pytest

from condet.data import DataError, load_voc, write_coco
from condet.data.pool import image_pool
from tests.helpers import make_yolo, write_image


def test_voc_ids_are_the_split_file_ids(synthetic_root):
    pool = image_pool(synthetic_root, "train")
    assert pool.ids == [image.image_id for image in load_voc(synthetic_root, "train")]
    assert all(path.stem == image_id for path, image_id in zip(pool.paths, pool.ids, strict=True))


def test_coco_ids_are_the_json_image_ids(synthetic_root, tmp_path):
    json_path = write_coco(load_voc(synthetic_root, "train"), tmp_path / "train.json")
    pool = image_pool(json_path, image_root=synthetic_root / "JPEGImages")
    entries = json.loads(json_path.read_text())["images"]
    assert pool.ids == [str(entry["id"]) for entry in entries]
    assert [path.name for path in pool.paths] == [entry["file_name"] for entry in entries]


def test_yolo_ids_are_the_image_stems_labels_or_not(tmp_path):
    data_yaml = make_yolo(tmp_path, {"b": "0 0.5 0.5 0.2 0.2\n", "a": ""}, ["fish"])
    (tmp_path / "train" / "labels" / "a.txt").unlink()  # an unlabelled image
    assert image_pool(data_yaml, "train").ids == ["a", "b"]


def test_folder_ids_are_relative_paths_without_suffix(tmp_path):
    for name in ("x.jpg", "tank/y.png", "tank/deep/z.jpeg"):
        write_image(tmp_path / "photos" / name)
    pool = image_pool(tmp_path / "photos")
    assert pool.ids == ["tank/deep/z", "tank/y", "x"]
    assert pool.indices(["x", "tank/y"], "ids.txt") == [2, 1]


def test_an_id_not_in_the_pool_and_a_shared_id_are_one_line_each(tmp_path):
    write_image(tmp_path / "photos" / "x.jpg")
    write_image(tmp_path / "photos" / "y.jpg")
    pool = image_pool(tmp_path / "photos")
    with pytest.raises(DataError, match=r"ids.txt: image 'w' \(and 1 more\) is not in .*photos"):
        pool.indices(["x", "w", "v"], "ids.txt")
    shutil.copy(tmp_path / "photos" / "x.jpg", tmp_path / "photos" / "x.png")
    with pytest.raises(DataError, match="two images share the id 'x'"):
        image_pool(tmp_path / "photos")
