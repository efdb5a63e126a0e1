from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from condet.data import VOC_CLASSES, DataError, load_voc, parse_voc_xml
from condet.data.voc import read_split_ids, voc_split_names
from condet.data.writers import write_voc_xml
from tests.helpers import make_voc, voc_xml

BCCD_CLASSES = ["Platelets", "RBC", "WBC"]


@pytest.mark.shared_data
class TestBCCD:
    def test_all_images_and_boxes_with_the_two_degenerate_ones_reported(self, shared_data):
        root = shared_data / "bccd" / "BCCD"
        splits = {
            name: load_voc(root, name, skip_invalid=True) for name in ("train", "val", "test")
        }
        ids = [image.image_id for split in splits.values() for image in split]
        assert len(ids) == len(set(ids)) == 364
        assert [len(splits[name]) for name in ("train", "val", "test")] == [205, 87, 72]
        counts = Counter()
        for split in splits.values():
            assert split.classes == BCCD_CLASSES
            counts.update(split.object_counts())
        problems = [problem for split in splits.values() for problem in split.problems]
        assert sorted(problem.path.rsplit("/", 1)[1] for problem in problems) == [
            "BloodImage_00338.xml",
            "BloodImage_00343.xml",
        ]
        assert all("degenerate box" in problem.problem for problem in problems)
        assert sum(counts.values()) + len(problems) == 4888
        # both degenerate boxes are RBC
        assert counts == {"RBC": 4155 - 2, "WBC": 372, "Platelets": 361}

    def test_keeps_flags_size_and_boxes_as_in_the_xml(self, shared_data):
        voc = load_voc(shared_data / "bccd" / "BCCD", "trainval", skip_invalid=True)
        first = next(image for image in voc if image.image_id == "BloodImage_00000")
        assert first.image_path.name == "BloodImage_00000.jpg"
        assert (first.width, first.height) == (640, 480)
        assert voc.one_based
        # BloodImage_00000.xml: the WBC first, then RBCs; the sixth object is truncated
        assert voc.classes[first.labels[0]] == "WBC"
        np.testing.assert_array_equal(first.boxes[0], [260, 177, 491, 376])
        assert first.truncated[5] and not first.truncated[0]
        assert not first.difficult.any()
        assert first.boxes.dtype == np.float32 and first.labels.dtype == np.int64

    def test_a_degenerate_box_is_an_error_naming_the_file(self, shared_data):
        with pytest.raises(DataError, match=r"BloodImage_00338\.xml: RBC: degenerate box"):
            load_voc(shared_data / "bccd" / "BCCD", "val")


@pytest.mark.shared_data
def test_genuine_voc2007_split_files(shared_data):
    root = shared_data / "voc2007-imagesets" / "VOCdevkit" / "VOC2007"
    trainval, test = read_split_ids(root, "trainval"), read_split_ids(root, "test")
    assert (len(trainval), len(test)) == (5011, 4952)
    assert not set(trainval) & set(test)
    train, val = read_split_ids(root, "train"), read_split_ids(root, "val")
    assert (len(train), len(val)) == (2501, 2510)
    assert sorted(train + val) == sorted(trainval)
    assert voc_split_names(root) == ["test", "train", "trainval", "val"]


def test_voc2007_folder_defaults_to_the_twenty_classes(tmp_path):
    xml = voc_xml([("dog", (10, 10, 50, 40)), ("person", (20, 5, 60, 70))], difficult=(1,))
    # A person layout annotation: part names must not be taken for classes.
    xml = xml.replace(
        "</bndbox></object></annotation>",
        "</bndbox><part><name>head</name><bndbox><xmin>25</xmin><ymin>6</ymin>"
        "<xmax>35</xmax><ymax>16</ymax></bndbox></part></object></annotation>",
    )
    root = make_voc(tmp_path / "VOCdevkit" / "VOC2007", {"000001": xml}, {"trainval": ["000001"]})
    voc = load_voc(root, "trainval")
    assert voc.classes == list(VOC_CLASSES)
    assert [voc.classes[label] for label in voc[0].labels] == ["dog", "person"]
    assert voc[0].difficult.tolist() == [False, True]


def test_other_folders_use_sorted_names_from_every_split(tmp_path):
    root = make_voc(
        tmp_path / "cells",
        {"a": voc_xml([("wbc", (1, 1, 9, 9))]), "b": voc_xml([("rbc", (1, 1, 9, 9))])},
        {"train": ["a"], "test": ["b"]},
    )
    # "test" holds only rbc, yet both splits get the same label space
    assert load_voc(root, "test").classes == load_voc(root, "train").classes == ["rbc", "wbc"]


def test_explicit_classes_order_labels(tmp_path):
    root = make_voc(tmp_path / "d", {"a": voc_xml([("b", (1, 1, 9, 9))])}, {"train": ["a"]})
    assert load_voc(root, "train", classes=["z", "b"])[0].labels.tolist() == [1]


def test_size_missing_from_the_xml_is_read_from_the_image(tmp_path):
    xml = voc_xml([("cat", (1, 1, 30, 20))]).replace(
        "<size><width>100</width><height>80</height><depth>3</depth></size>", ""
    )
    root = make_voc(tmp_path / "d", {"a": xml}, {"train": ["a"]}, width=64, height=48)
    image = load_voc(root, "train")[0]
    assert (image.width, image.height) == (64, 48)


class TestBadInput:
    """Each problem is a DataError naming the file; skip_invalid skips and reports it."""

    @pytest.mark.parametrize(
        ("xml", "message"),
        [
            (voc_xml([("cat", (10, 10, 5, 40))]), "degenerate box"),
            (voc_xml([("cat", (10, 10, 50, 10))]), "degenerate box"),
            (voc_xml([("cat", (10, 10, 150, 40))]), "outside the 100x80 image"),
            (voc_xml([("cat", (-5, 10, 50, 40))]), "outside the 100x80 image"),
            (voc_xml([("unicorn", (10, 10, 50, 40))]), "unknown class 'unicorn'"),
        ],
    )
    def test_bad_object_is_skipped_alone(self, tmp_path, xml, message):
        good = voc_xml([("cat", (1, 1, 20, 20))])
        root = make_voc(tmp_path / "d", {"a": xml, "b": good}, {"train": ["a", "b"]})
        with pytest.raises(DataError, match=rf"a\.xml: .*{message}"):
            load_voc(root, "train", classes=["cat"])
        voc = load_voc(root, "train", classes=["cat"], skip_invalid=True)
        assert [len(image) for image in voc] == [0, 1]
        assert len(voc.problems) == 1 and message in voc.problems[0].problem
        assert voc.problems[0].path.endswith("a.xml")

    @pytest.mark.parametrize(
        ("xml", "message"),
        [
            ("<annotation><object>", "malformed XML"),
            ("<html></html>", "expected <annotation>"),
            (voc_xml([("cat", (1, 1, 9, 9))]).replace("<xmax>9</xmax>", ""), "has no <xmax>"),
            (voc_xml([("cat", (1, 1, 9, 9))]).replace("<xmax>9", "<xmax>nine"), "not a number"),
            (voc_xml([("cat", (1, 1, 9, 9))]).replace("<name>cat</name>", ""), "has no <name>"),
            (voc_xml([("cat", (1, 1, 9, 9))]).replace("<difficult>0", "<difficult>2"), "0 or 1"),
        ],
    )
    def test_malformed_xml_skips_the_image(self, tmp_path, xml, message):
        root = make_voc(tmp_path / "d", {"a": xml, "b": voc_xml([])}, {"train": ["a", "b"]})
        with pytest.raises(DataError, match=rf"a\.xml: .*{message}"):
            load_voc(root, "train")
        voc = load_voc(root, "train", classes=["cat"], skip_invalid=True)
        assert [image.image_id for image in voc] == ["b"]
        assert len(voc.problems) == 1

    def test_missing_image(self, tmp_path):
        root = make_voc(tmp_path / "d", {"a": voc_xml([])}, {"train": ["a"]}, images=False)
        with pytest.raises(DataError, match=r"a\.jpg: image file not found"):
            load_voc(root, "train")
        assert len(load_voc(root, "train", skip_invalid=True).problems) == 1

    def test_missing_annotation_file(self, tmp_path):
        root = make_voc(tmp_path / "d", {"a": voc_xml([])}, {"train": ["a", "ghost"]})
        with pytest.raises(DataError, match=r"ghost\.xml: annotation file not found"):
            load_voc(root, "train")

    def test_missing_split_file_lists_the_available_ones(self, tmp_path):
        root = make_voc(tmp_path / "d", {"a": voc_xml([])}, {"train": ["a"], "val": ["a"]})
        with pytest.raises(DataError, match=r"test\.txt: split file not found .*train, val"):
            load_voc(root, "test")

    def test_empty_split(self, tmp_path):
        root = make_voc(tmp_path / "d", {"a": voc_xml([])}, {"train": []})
        with pytest.raises(DataError, match="empty split"):
            load_voc(root, "train")

    def test_missing_root(self, tmp_path):
        with pytest.raises(DataError, match="VOC root folder not found"):
            load_voc(tmp_path / "nowhere", "train")


def test_written_xml_reads_back(synthetic_root):
    voc = load_voc(synthetic_root, "train")
    image = voc[0]
    record = parse_voc_xml(write_voc_xml(image, voc.classes))
    assert (record.width, record.height) == (image.width, image.height)
    assert [obj.name for obj in record.objects] == [voc.classes[i] for i in image.labels]
    np.testing.assert_array_equal([obj.box for obj in record.objects], image.boxes)
