from __future__ import annotations

import pytest

from condet.data import DataError
from condet.data.check import check_dataset, format_report
from tests.helpers import make_voc, voc_xml


@pytest.mark.shared_data
def test_bccd_report_lists_both_degenerate_boxes(shared_data):
    report = check_dataset(shared_data / "bccd" / "BCCD")
    assert list(report.splits) == ["test", "train", "trainval", "val"]
    assert len(report.union()) == 364
    text = format_report(report)
    assert "BloodImage_00338.xml: RBC: degenerate box [504, 337, 504, 337]" in text
    assert "BloodImage_00343.xml: RBC: degenerate box [181, 329, 181, 329]" in text
    assert "2 problem(s)" in text
    assert "RBC             4153" in text


@pytest.mark.shared_data
def test_aquarium_yaml_and_coco_json(shared_data):
    yolo = check_dataset(shared_data / "aquarium" / "data.yaml")
    assert list(yolo.splits) == ["train", "val", "test"] and len(yolo.problems) == 2
    coco = check_dataset(shared_data / "aquarium" / "valid" / "_annotations.derived.coco.json")
    assert list(coco.splits) == ["_annotations.derived.coco.json"] and not coco.problems


def test_every_problem_is_listed_once(tmp_path):
    root = make_voc(
        tmp_path / "d",
        {"a": voc_xml([("cat", (5, 5, 2, 9))]), "b": "<annotation>", "c": voc_xml([])},
        {"train": ["a", "b"], "trainval": ["a", "b", "c"]},
    )
    (root / "JPEGImages" / "c.jpg").unlink()
    report = check_dataset(root)
    problems = [str(problem) for problem in report.problems]
    assert len(problems) == 3, problems
    assert any("a.xml: cat: degenerate box" in p for p in problems)
    assert any("b.xml: malformed XML" in p for p in problems)
    assert any("c.jpg: image file not found" in p for p in problems)


def test_image_size_mismatch_is_reported(tmp_path):
    root = make_voc(tmp_path / "d", {"a": voc_xml([], width=120)}, {"train": ["a"]})
    (problem,) = check_dataset(root).problems
    assert "image is 100x80 but its annotation says 120x80" in problem.problem


def test_not_a_data_set(tmp_path):
    with pytest.raises(DataError, match="not a data set"):
        check_dataset(tmp_path)
