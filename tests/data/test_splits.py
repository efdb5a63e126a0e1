from __future__ import annotations

import numpy as np
import pytest

from condet.data import (
    Annotations,
    DataError,
    ImageAnnotation,
    known_class_ids,
    label_fraction_indices,
    label_fraction_subset,
    load_voc,
    mark_withheld,
    withhold_classes,
)
from condet.data.splits import (
    drop_classes,
    ignore_classes,
    labelled_subset,
    rare_classes,
    read_image_ids,
    refuse_shared_images,
    subset_by_ids,
)
from condet.errors import CondetError


def toy(labels_per_image: list[list[int]], classes=("a", "b", "c", "d")) -> Annotations:
    images = [
        ImageAnnotation(str(i), f"{i}.jpg", 10, 10, [[0, 0, 5, 5]] * len(labels), labels)
        for i, labels in enumerate(labels_per_image)
    ]
    return Annotations(images, classes)


class TestLabelFractions:
    def test_deterministic_sized_and_covering_every_class(self, synthetic_root):
        voc = load_voc(synthetic_root, "trainval")
        present = {int(label) for image in voc for label in image.labels}
        for fraction in (0.1, 0.25, 0.5, 1.0):
            indices = label_fraction_indices(voc, fraction, seed=3)
            assert indices == label_fraction_indices(voc, fraction, seed=3)
            assert len(indices) >= round(fraction * len(voc))
            covered = {int(label) for i in indices for label in voc[i].labels}
            assert covered == present
        assert label_fraction_indices(voc, 0.25, seed=3) != label_fraction_indices(voc, 0.25, 4)

    def test_exact_size_when_classes_do_not_force_more(self):
        annotations = toy([[0], [0], [0], [1], [1], [0, 1]] * 10, classes=("a", "b"))
        assert len(label_fraction_indices(annotations, 0.1, seed=0)) == 6

    def test_rare_class_is_kept(self):
        annotations = toy([[0]] * 99 + [[3]])
        assert 99 in label_fraction_indices(annotations, 0.01, seed=0)

    def test_smaller_fractions_are_nested_in_larger_ones(self):
        annotations = toy([[i % 4] for i in range(200)])
        previous: set[int] = set()
        for fraction in (0.01, 0.1, 0.5, 1.0):
            current = set(label_fraction_indices(annotations, fraction, seed=7))
            assert previous <= current
            previous = current
        assert previous == set(range(200))

    def test_subset_keeps_order_and_settings(self, synthetic_root):
        voc = load_voc(synthetic_root, "train")
        subset = label_fraction_subset(voc, 0.3, seed=0)
        ids = [image.image_id for image in subset]
        assert ids == sorted(ids) and subset.classes == voc.classes and subset.one_based

    @pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
    def test_fraction_out_of_range(self, fraction):
        with pytest.raises(CondetError, match="label fraction must be in"):
            label_fraction_indices(toy([[0]]), fraction)


class TestWithheldClasses:
    def test_training_side_loses_the_boxes_and_keeps_the_label_space(self):
        annotations = toy([[0, 1], [1, 1], [2]])
        train = withhold_classes(annotations, ["b"])
        assert [image.labels.tolist() for image in train] == [[0], [], [2]]
        assert train.classes == annotations.classes and train.withheld == ("b",)
        assert known_class_ids(train) == [0, 2, 3]

    def test_test_side_keeps_and_marks_them(self):
        annotations = toy([[0, 1], [1, 1], [2]])
        test = mark_withheld(annotations, ["b", "c"])
        assert test.num_objects == annotations.num_objects and test.withheld == ("b", "c")
        unknown = [np.isin(image.labels, [1, 2]).tolist() for image in test]
        assert unknown == [[False, True], [True, True], [True]]

    def test_unknown_class_name(self):
        with pytest.raises(CondetError, match="unknown class 'zebra'; the classes are: a, b"):
            withhold_classes(toy([[0]]), ["zebra"])


class TestRareClasses:
    def test_classes_under_the_minimum_in_class_order_absent_ones_included(self):
        annotations = toy([[0, 1], [1, 1], [2, 0], [0]])  # a: 3, b: 3, c: 1, d: 0
        assert rare_classes(annotations, 3) == ["c", "d"]
        assert rare_classes(annotations, 4) == ["a", "b", "c", "d"]
        assert rare_classes(annotations, 0) == []

    def test_excluded_classes_are_not_listed(self):
        assert rare_classes(toy([[0, 0], [2]]), 2, exclude=["d"]) == ["b", "c"]

    def test_crowd_boxes_are_not_counted(self):
        crowd = ImageAnnotation(
            "0", "0.jpg", 10, 10, [[0, 0, 5, 5]] * 3, [0, 1, 1], iscrowd=[0, 0, 1]
        )
        assert rare_classes(Annotations([crowd], ("a", "b")), 2) == ["a", "b"]
        assert rare_classes(Annotations([crowd], ("a", "b")), 1) == []

    def test_dropping_removes_the_boxes_without_marking_them_withheld(self):
        annotations = mark_withheld(toy([[0, 1], [1, 1], [2]]), ["a"])
        kept = drop_classes(annotations, ["b"])
        assert [image.labels.tolist() for image in kept] == [[0], [], [2]]
        assert kept.classes == annotations.classes and kept.withheld == ("a",)


class TestImageIds:
    def test_an_id_file_names_exactly_its_images_in_split_order(self, tmp_path):
        annotations = toy([[0], [1], [2], [3]])
        ids = tmp_path / "ids.txt"
        ids.write_text("3\n\n 1 \n")
        assert read_image_ids(ids) == ["3", "1"]
        chosen = subset_by_ids(annotations, read_image_ids(ids), ids)
        assert [image.image_id for image in chosen] == ["1", "3"]
        assert [image.image_id for image in labelled_subset(annotations, ids_file=ids)] == [
            "1",
            "3",
        ]

    def test_an_id_not_in_the_split_is_one_line_naming_it_and_the_file(self, tmp_path):
        annotations = Annotations(toy([[0], [1]]).images, ("a",), source="data.yaml:train")
        ids = tmp_path / "ids.txt"
        ids.write_text("1\n7\n")
        with pytest.raises(DataError) as error:
            subset_by_ids(annotations, read_image_ids(ids), ids)
        assert str(error.value) == f"{ids}: image '7' is not in the split data.yaml:train"

    @pytest.mark.parametrize(
        ("text", "problem"),
        [("", "no image ids in the file"), ("a\nb\na\n", "image id 'a' is listed more than once")],
    )
    def test_an_empty_or_repeating_file_is_refused(self, tmp_path, text, problem):
        ids = tmp_path / "ids.txt"
        ids.write_text(text)
        with pytest.raises(DataError, match=problem):
            read_image_ids(ids)
        with pytest.raises(DataError, match="image id file not found"):
            read_image_ids(tmp_path / "missing.txt")

    def test_a_fraction_and_an_id_file_together_are_refused(self, tmp_path):
        ids = tmp_path / "ids.txt"
        ids.write_text("0\n")
        with pytest.raises(CondetError, match="both choose the labelled images; give one"):
            labelled_subset(toy([[0], [1]]), 0.5, ids)
        halves = labelled_subset(toy([[0], [0]] * 5), 0.5, seed=1)
        expected = label_fraction_subset(toy([[0], [0]] * 5), 0.5, seed=1)
        assert [image.image_id for image in halves] == [image.image_id for image in expected]


class TestSharedImages:
    def test_test_images_that_are_trained_on_are_one_line(self, synthetic_root):
        train, test = load_voc(synthetic_root, "train"), load_voc(synthetic_root, "test")
        refuse_shared_images(train, test, "a remedy")
        leaked = test.derive([*test, train[0]])
        with pytest.raises(CondetError, match=f"1 of the {len(leaked)} test images are also tra"):
            refuse_shared_images(train, leaked, "a remedy")
        with pytest.raises(CondetError, match="has no images"):
            refuse_shared_images(train, test.derive([]), "a remedy")


def test_ignored_classes_keep_their_boxes_as_difficult():
    annotations = toy([[0, 1], [1, 2]])
    ignored = ignore_classes(annotations, ["b"])
    assert [image.difficult.tolist() for image in ignored] == [[False, True], [True, False]]
    assert [image.labels.tolist() for image in ignored] == [[0, 1], [1, 2]]
    assert ignored.withheld == ("b",)
    with pytest.raises(CondetError, match="unknown class 'z'"):
        ignore_classes(annotations, ["z"])
