"""Bad input reaches the user as one line, ``condet: error: FILE: what is wrong``, exit code 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from condet.cli import main
from condet.losses import (
    RankingError,
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
)
from tests.helpers import make_voc, voc_xml


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def cats_and_dogs(tmp_path) -> Path:
    """A VOC folder of two images, a cat and a dog in each, in both splits."""
    objects = [("cat", (5, 5, 45, 45)), ("dog", (50, 20, 95, 75))]
    annotations = {name: voc_xml(objects) for name in ("a", "b")}
    return make_voc(tmp_path / "voc", annotations, {"train": ["a", "b"], "test": ["a", "b"]})


def one_error_line(capsys) -> str:
    """The command's only stderr line, without its ``condet: error: `` prefix."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("condet: error: "), lines[0]
    return lines[0].removeprefix("condet: error: ")


def classify_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "classify-train",
        "--data",
        str(data),
        "--split",
        "train",
        "--test-split",
        "test",
        "--backbone",
        "mobilenet_v3_small",
        "--crop-size",
        "32",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def test_unknown_class_in_a_rankings_file_names_the_file(tmp_path):
    path = tmp_path / "rankings.yaml"
    path.write_text("rankings: {cat: [dog], dog: [], blob: [cat]}\n")
    with pytest.raises(RankingError) as error:
        rank_matrix_from_rankings(["cat", "dog"], load_rankings(path), r=2)
    assert str(error.value) == f"{path}: rankings name unknown classes: blob (classes: cat, dog)"


def test_a_bad_ranking_list_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "rankings.yaml"
    path.write_text("rankings: {cat: [blob], dog: []}\n")
    with pytest.raises(
        RankingError, match=f"^{re.escape(str(path))}: the ranking of 'cat' names unknown"
    ):
        rank_matrix_from_rankings(["cat", "dog"], load_rankings(path), r=2)


def test_unknown_class_in_a_groups_file_names_the_file(tmp_path):
    path = tmp_path / "groups.yaml"
    path.write_text("groups: {animal: [cat, blob]}\n")
    with pytest.raises(
        RankingError, match=f"^{re.escape(str(path))}: group 'animal' names unknown classes: blob"
    ):
        rank_matrix_from_groups(["cat", "dog"], load_groups(path))


def test_rankings_given_in_code_have_no_file_to_name():
    with pytest.raises(RankingError, match=r"^rankings name unknown classes: blob"):
        rank_matrix_from_rankings(["cat", "dog"], {"cat": [], "dog": [], "blob": []}, r=2)


def test_classify_train_names_the_rankings_file_with_an_unknown_class(
    cats_and_dogs, tmp_path, capsys
):
    rankings = tmp_path / "bad.yaml"
    rankings.write_text("rankings: {cat: [dog], dog: [cat], blob: []}\n")
    argv = classify_argv(
        cats_and_dogs, tmp_path / "run", "--loss", "ranked", "--rankings", str(rankings)
    )
    assert main(argv) == 1
    assert one_error_line(capsys) == (
        f"{rankings}: rankings name unknown classes: blob (classes: cat, dog)"
    )
