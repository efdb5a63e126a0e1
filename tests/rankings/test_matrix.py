from __future__ import annotations

from pathlib import Path

import pytest
import torch

from condet.data import SYNTHETIC_CLASSES, VOC_CLASSES
from condet.losses import (
    RankingError,
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "rankings"


class TestRankMatrixFromRankings:
    def test_own_class_first_then_the_list_in_order(self):
        matrix = rank_matrix_from_rankings(
            ["bird", "boat", "plane", "car"],
            {"plane": ["bird", "boat", "car"], "bird": ["plane"], "boat": [], "car": []},
            r=4,
        )
        assert matrix.dtype == torch.long
        assert matrix.tolist() == [[1, 0, 2, 0], [0, 1, 0, 0], [2, 3, 1, 4], [0, 0, 0, 1]]

    def test_truncated_at_r(self):
        rankings = {"a": ["b", "c"], "b": [], "c": []}
        assert rank_matrix_from_rankings(["a", "b", "c"], rankings, r=2)[0].tolist() == [1, 2, 0]
        assert (
            rank_matrix_from_rankings(["a", "b", "c"], rankings, r=1).tolist()
            == torch.eye(3, dtype=torch.long).tolist()
        )

    @pytest.mark.parametrize(
        ("rankings", "message"),
        [
            ({"a": ["b"], "b": [], "zebra": []}, "unknown classes: zebra"),
            ({"a": ["zebra"], "b": []}, "the ranking of 'a' names unknown classes: zebra"),
            ({"a": ["b", "b"], "b": []}, "lists b more than once"),
            ({"a": ["a", "b"], "b": []}, "'a' is ranked in its own list"),
            ({"a": ["b"]}, r"no ranking for b; list every class .*'b: \[\]'"),
        ],
    )
    def test_errors(self, rankings, message):
        with pytest.raises(RankingError, match=message):
            rank_matrix_from_rankings(["a", "b"], rankings, r=3)

    def test_r_must_be_positive(self):
        with pytest.raises(RankingError, match="r must be at least 1"):
            rank_matrix_from_rankings(["a"], {"a": []}, r=0)


class TestRankMatrixFromGroups:
    def test_same_group_is_rank_two(self):
        matrix = rank_matrix_from_groups(
            ["cat", "dog", "car", "bus", "person"],
            {"animal": ["cat", "dog"], "vehicle": ["car", "bus"]},
        )
        assert matrix.tolist() == [
            [1, 2, 0, 0, 0],
            [2, 1, 0, 0, 0],
            [0, 0, 1, 2, 0],
            [0, 0, 2, 1, 0],
            [0, 0, 0, 0, 1],
        ]

    @pytest.mark.parametrize(
        ("groups", "message"),
        [
            ({"animal": ["cat", "zebra"]}, "group 'animal' names unknown classes: zebra"),
            ({"animal": ["cat", "cat"]}, "lists cat more than once"),
            ({"animal": ["cat"], "pet": ["cat"]}, "'cat' is in two groups"),
        ],
    )
    def test_errors(self, groups, message):
        with pytest.raises(RankingError, match=message):
            rank_matrix_from_groups(["cat", "dog"], groups)


class TestShippedFiles:
    @pytest.mark.parametrize("name", ["voc.yaml", "voc_report.yaml"])
    def test_voc_rankings_cover_every_class(self, name):
        rankings = load_rankings(CONFIGS / name)
        assert sorted(rankings) == sorted(VOC_CLASSES)
        assert rankings["person"] == []
        matrix = rank_matrix_from_rankings(VOC_CLASSES, rankings, r=3)
        aeroplane, bird, boat = (VOC_CLASSES.index(n) for n in ("aeroplane", "bird", "boat"))
        assert (matrix[aeroplane, bird], matrix[aeroplane, boat]) == (2, 3)

    def test_voc_groups_are_the_four_superclasses(self):
        groups = load_groups(CONFIGS / "voc_groups.yaml")
        assert sorted(groups) == ["animal", "indoor", "person", "vehicle"]
        assert sorted(c for members in groups.values() for c in members) == sorted(VOC_CLASSES)
        matrix = rank_matrix_from_groups(VOC_CLASSES, groups)
        cat, dog, car = (VOC_CLASSES.index(n) for n in ("cat", "dog", "car"))
        assert (matrix[cat, dog], matrix[cat, car]) == (2, 0)

    def test_synthetic_rankings_and_groups(self, synthetic_root):
        path = synthetic_root / "rankings.yaml"
        ranked = rank_matrix_from_rankings(SYNTHETIC_CLASSES, load_rankings(path), r=3)
        grouped = rank_matrix_from_groups(SYNTHETIC_CLASSES, load_groups(path))
        circle, ellipse, ring, hexagon, star = (
            SYNTHETIC_CLASSES.index(name)
            for name in ("circle", "ellipse", "ring", "hexagon", "star")
        )
        # circle ranks [ellipse, ring, hexagon]: r = 3 keeps the first two, as ranks 2 and 3
        assert ranked[circle, circle] == 1
        assert (ranked[circle, ellipse], ranked[circle, ring], ranked[circle, hexagon]) == (2, 3, 0)
        # the round family is one group; a star is in another
        assert (grouped[circle, ring], grouped[ring, circle], grouped[circle, star]) == (2, 2, 0)


class TestLoading:
    def test_missing_file(self, tmp_path):
        with pytest.raises(RankingError, match="file not found"):
            load_rankings(tmp_path / "none.yaml")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("rankings: [", "malformed YAML"),
            ("groups: {a: [b]}", "expected a 'rankings:' mapping"),
            ("rankings: {a: b}", "'a' must map to a list of class names"),
        ],
    )
    def test_malformed(self, tmp_path, text, message):
        path = tmp_path / "r.yaml"
        path.write_text(text)
        with pytest.raises(RankingError, match=message):
            load_rankings(path)

    def test_empty_entry_means_no_neighbours(self, tmp_path):
        path = tmp_path / "r.yaml"
        path.write_text("rankings:\n  a: [b]\n  b:\n")
        assert load_rankings(path) == {"a": ["b"], "b": []}
