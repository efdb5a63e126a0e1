from __future__ import annotations

import filecmp

import numpy as np
import pytest
import yaml

from condet.data import SYNTHETIC_CLASSES, generate_synthetic, load_voc
from condet.data.shapes import SHAPE_FAMILIES, SYNTHETIC_RANKINGS, _place_object, render_scene
from condet.errors import CondetError


def test_same_seed_gives_byte_identical_annotations(synthetic_root, tmp_path):
    again = generate_synthetic(tmp_path / "again", images=40, seed=0, progress=False)
    for folder in ("Annotations", "ImageSets/Main"):
        names = sorted(p.name for p in (synthetic_root / folder).iterdir())
        assert names == sorted(p.name for p in (again / folder).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(
            synthetic_root / folder, again / folder, names, shallow=False
        )
        assert not mismatch and not errors and len(match) == len(names)


def test_another_seed_gives_other_scenes():
    first, _ = render_scene(0, seed=0)
    other, _ = render_scene(0, seed=1)
    assert not np.array_equal(first, other)


def test_scene_does_not_depend_on_the_data_set_size():
    pixels, objects = render_scene(5, seed=0)
    again, same = render_scene(5, seed=0)
    np.testing.assert_array_equal(pixels, again)
    np.testing.assert_array_equal(objects.boxes, same.boxes)


def test_layout_classes_and_splits(synthetic_root):
    splits = {name: load_voc(synthetic_root, name) for name in ("train", "val", "test")}
    assert [len(split) for split in splits.values()] == [24, 8, 8]
    ids = [image.image_id for split in splits.values() for image in split]
    assert len(set(ids)) == 40
    trainval = load_voc(synthetic_root, "trainval")
    assert trainval.classes == list(SYNTHETIC_CLASSES) and len(SYNTHETIC_CLASSES) == 10
    for image in trainval:
        assert 1 <= len(image) <= 3
        assert (image.boxes[:, 2:] - image.boxes[:, :2] >= 9).all()
        assert (image.boxes[:, :2] >= 1).all() and (image.boxes[:, 2:] <= 256).all()


def test_objects_are_large_and_visible_enough_to_learn_in_a_few_hundred_steps():
    # The demo's detectors see the scenes at 160 px and its encoders 64 px crops: an object
    # inside the image spans at least 7% of the side, and none is hidden enough to be difficult.
    scenes = [render_scene(index, seed=0)[1] for index in range(60)]
    for objects in scenes:
        whole = ~np.asarray(objects.truncated, bool)
        sides = objects.boxes[:, 2:] - objects.boxes[:, :2] + 1
        assert (sides[whole] >= 0.07 * 256).all()
        assert not any(objects.difficult)
    assert sum(len(objects) for objects in scenes) >= 1.8 * len(scenes)


def test_ellipses_stay_ellipses_in_their_square_crops():
    # A crop stretches the box to a square: an ellipse along an axis would fill it as fully as
    # a circle (pi / 4), a diagonal one leaves more of its box empty.
    fill = {"circle": [], "ellipse": []}
    rng = np.random.default_rng(0)
    while min(len(values) for values in fill.values()) < 20:
        obj = _place_object(rng, 256, [])
        if obj is None or obj["name"] not in fill or obj["inside_fraction"] < 0.999:
            continue
        inside = obj["alpha"] > 0.5
        rows, cols = inside.any(axis=1).sum(), inside.any(axis=0).sum()
        fill[obj["name"]].append(obj["alpha"].sum() / (rows * cols))
    assert min(fill["circle"]) > 0.74 and max(fill["ellipse"]) < 0.73


def test_rankings_file_lists_every_class_and_the_families(synthetic_root):
    document = yaml.safe_load((synthetic_root / "rankings.yaml").read_text())
    assert set(document["rankings"]) == set(SYNTHETIC_CLASSES)
    for name, neighbours in document["rankings"].items():
        assert name not in neighbours and set(neighbours) <= set(SYNTHETIC_CLASSES)
        family = next(f for f in SHAPE_FAMILIES.values() if name in f)
        # family members come first in every ranking
        assert set(neighbours[: len(family) - 1]) == set(family) - {name}
    assert document["groups"] == {family: list(names) for family, names in SHAPE_FAMILIES.items()}
    assert document["rankings"] == SYNTHETIC_RANKINGS


def test_existing_data_set_is_reused_and_foreign_folders_refused(synthetic_root, tmp_path):
    marker = synthetic_root / "Annotations" / "000000.xml"
    stamp = marker.stat().st_mtime_ns
    generate_synthetic(synthetic_root, images=40, seed=0, progress=False)
    assert marker.stat().st_mtime_ns == stamp
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(CondetError, match="not empty and holds no condet synthetic data set"):
        generate_synthetic(tmp_path, images=10)


def test_regenerating_with_fewer_images_leaves_no_stale_files(tmp_path):
    generate_synthetic(tmp_path, images=12, seed=0, progress=False)
    generate_synthetic(tmp_path, images=8, seed=0, progress=False)
    assert len(list((tmp_path / "Annotations").iterdir())) == 8
