"""``condet data check`` without --split reads every split file of a VOC folder, and only those."""

from __future__ import annotations

import pytest

from condet.cli import main
from condet.data.check import check_dataset, format_report
from condet.data.load import load_annotations
from condet.data.voc import voc_split_names
from tests.helpers import make_voc, voc_xml


@pytest.fixture
def voc_root(tmp_path):
    """train / val / test, a split with an underscore, and VOC's per-class files."""
    annotations = {
        "a": voc_xml([("cat", (5, 5, 40, 30))]),
        "b": voc_xml([("dog", (5, 5, 40, 30))]),
        "c": voc_xml([("cat", (5, 5, 40, 30)), ("dog", (50, 40, 90, 70))]),
    }
    splits = {"train": ["a"], "val": ["b"], "test": ["c"], "train_small": ["a"]}
    root = make_voc(tmp_path / "voc", annotations, splits)
    main_folder = root / "ImageSets" / "Main"
    for name, split in (("cat", "train"), ("dog", "train"), ("cat", "test"), ("dog", "test")):
        # VOC's per-class files: every id of the split, with 1 / -1 / 0 for the class
        ids = ["a"] if split == "train" else ["c"]
        (main_folder / f"{name}_{split}.txt").write_text("".join(f"{i} 1\n" for i in ids))
    return root


def test_split_files_are_told_from_per_class_files_by_their_lines(voc_root):
    assert voc_split_names(voc_root) == ["test", "train", "train_small", "val"]


def test_empty_split_file_is_still_a_split(voc_root):
    (voc_root / "ImageSets" / "Main" / "extra.txt").write_text("")
    assert "extra" in voc_split_names(voc_root)


def test_check_without_split_reads_every_split(voc_root):
    report = check_dataset(voc_root)
    assert list(report.splits) == ["test", "train", "train_small", "val"]
    assert len(report.union()) == 3 and not report.problems


def test_cli_check_without_split_exits_0_with_every_split(voc_root, capsys):
    assert main(["data", "check", str(voc_root)]) == 0
    out = capsys.readouterr().out
    for row in ("test", "train", "train_small", "val", "all splits"):
        assert f"\n{row} " in out, row
    assert "cat_train" not in out and "no problems found" in out


def test_a_split_named_all(tmp_path, capsys):
    annotations = {"a": voc_xml([("cat", (5, 5, 40, 30))]), "b": voc_xml([])}
    root = make_voc(tmp_path / "voc", annotations, {"all": ["a", "b"], "train": ["a"]})
    assert len(load_annotations(root, "all")) == 2
    report = check_dataset(root)
    assert list(report.splits) == ["all", "train"] and len(report.splits["all"]) == 2
    text = format_report(report)
    assert "\nall  " in text and "\nall splits  " in text
    assert main(["data", "check", str(root)]) == 0
    assert main(["data", "check", str(root), "--split", "all"]) == 0
    capsys.readouterr()
