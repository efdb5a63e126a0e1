"""DataSets: what the readers skipped, counted by kind, said once, listed in a file."""

from __future__ import annotations

import json
import logging

import pytest

from condet.data import DataError, load_coco
from condet.data.load import DataSets
from tests.helpers import make_voc, make_yolo, voc_xml, write_image

GOOD = voc_xml([("cat", (5, 5, 40, 30)), ("dog", (10, 10, 60, 50))])


def voc_with(tmp_path, **broken):
    """A VOC folder of four good train images, plus ``broken`` (image id -> XML text)."""
    annotations = {f"g{n}": GOOD for n in range(4)} | broken
    return make_voc(tmp_path / "voc", annotations, {"train": list(annotations)})


def test_malformed_xml_skips_its_image(tmp_path, caplog):
    root = voc_with(tmp_path, bad="<annotation><size>")
    skipped = DataSets()
    with caplog.at_level(logging.WARNING, logger="condet"):
        train = skipped.load(root, "train")
        counts = skipped.report(tmp_path / "run")
    assert len(train) == 4
    assert counts == {
        "records": 1,
        "images": 1,
        "of_images": 5,
        "objects": 0,
        "of_objects": 8,
        "by_kind": {"malformed annotation": 1},
    }
    # one line: the reader's own warning is held back
    assert [record.getMessage() for record in caplog.records] == [
        f"skipped 1 of 5 images: 1 malformed annotation; see {tmp_path / 'run' / 'skipped.txt'}"
    ]
    listing = (tmp_path / "run" / "skipped.txt").read_text()
    assert f"{root / 'Annotations' / 'bad.xml'}: malformed XML" in listing
    assert "[malformed annotation]" in listing


def test_missing_image_skips_its_image(tmp_path):
    root = voc_with(tmp_path, lost=GOOD)
    (root / "JPEGImages" / "lost.jpg").unlink()
    skipped = DataSets()
    skipped.load(root, "train")
    counts = skipped.report(tmp_path / "run")
    assert counts["by_kind"] == {"missing image": 1} and counts["images"] == 1
    listing = (tmp_path / "run" / "skipped.txt").read_text()
    assert f"{root / 'JPEGImages' / 'lost.jpg'}: image file not found" in listing


def test_degenerate_box_skips_the_object_and_keeps_the_image(tmp_path):
    root = voc_with(tmp_path, flat=voc_xml([("cat", (5, 5, 40, 30)), ("dog", (20, 9, 20, 40))]))
    skipped = DataSets()
    train = skipped.load(root, "train")
    counts = skipped.report(tmp_path / "run")
    assert len(train) == 5 and train.num_objects == 9
    assert counts["by_kind"] == {"degenerate box": 1}
    assert (counts["images"], counts["objects"], counts["of_objects"]) == (0, 1, 10)
    assert "dog: degenerate box [20, 9, 20, 40]" in (tmp_path / "run" / "skipped.txt").read_text()


def test_coco_missing_image_is_found_at_load_time(tmp_path):
    write_image(tmp_path / "a.jpg")
    document = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "gone.jpg", "width": 100, "height": 80},
        ],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 9, 9]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=r"gone\.jpg: image file not found"):
        load_coco(path)
    skipped = DataSets()
    (image,) = skipped.load(path)
    assert image.image_id == "1"
    assert skipped.report(None)["by_kind"] == {"missing image": 1}


def test_yolo_bad_label_line_skips_its_image(tmp_path):
    data = make_yolo(tmp_path / "yolo", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "zero 0.5\n"}, ["cat"])
    skipped = DataSets()
    assert len(skipped.load(data, "train")) == 1
    assert skipped.report(None)["by_kind"] == {"malformed annotation": 1}


def test_kinds_are_counted_over_every_split_read(tmp_path):
    annotations = {"g": GOOD, "bad": "<annotation>", "flat": voc_xml([("cat", (5, 5, 5, 9))])}
    root = make_voc(tmp_path / "voc", annotations, {"train": ["g", "bad"], "test": ["flat"]})
    skipped = DataSets()
    train = skipped.load(root, "train")
    skipped.load(root, "test", classes=train.classes)
    skipped.load(root, "train")  # read twice (test split = training split), counted once
    counts = skipped.report(tmp_path / "run")
    assert counts["by_kind"] == {"malformed annotation": 1, "degenerate box": 1}
    assert (counts["images"], counts["of_images"]) == (1, 3)
    listing = (tmp_path / "run" / "skipped.txt").read_text()
    assert f"{root}:train:" in listing and f"{root}:test:" in listing


def test_plural_kinds_in_the_summary(tmp_path, caplog):
    root = voc_with(tmp_path, a="<annotation>", b="<annotation>", c=GOOD)
    (root / "JPEGImages" / "c.jpg").unlink()
    skipped = DataSets()
    skipped.load(root, "train")
    with caplog.at_level(logging.WARNING, logger="condet"):
        skipped.report(None)
    (record,) = caplog.records
    assert record.getMessage() == (
        "skipped 3 of 7 images: 2 malformed annotations, 1 missing image"
    )


def test_strict_raises_naming_the_first_problem_and_the_count(tmp_path):
    root = voc_with(tmp_path, bad="<annotation>", flat=voc_xml([("cat", (5, 5, 5, 9))]))
    skipped = DataSets(strict=True)
    skipped.load(root, "train")
    with pytest.raises(DataError) as error:
        skipped.report(tmp_path / "run")
    assert error.value.path == str(root / "Annotations" / "bad.xml")
    assert "malformed XML" in str(error.value)
    assert "the first of 2 problems in the data" in str(error.value)
    assert not (tmp_path / "run" / "skipped.txt").exists()


def test_strict_with_one_problem_says_it_is_the_only_one(tmp_path):
    skipped = DataSets(strict=True)
    skipped.load(voc_with(tmp_path, bad="<annotation>"), "train")
    with pytest.raises(DataError, match="the only problem in the data"):
        skipped.report(None)


def test_clean_data_says_nothing_and_removes_a_stale_listing(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    (run / "skipped.txt").write_text("from an earlier run\n")
    skipped = DataSets(strict=True)
    skipped.load(voc_with(tmp_path), "train")
    with caplog.at_level(logging.WARNING, logger="condet"):
        counts = skipped.report(run)
    assert counts["records"] == 0 and counts["of_images"] == 4 and counts["by_kind"] == {}
    assert not caplog.records and not (run / "skipped.txt").exists()
