from __future__ import annotations

import filecmp

import numpy as np
import pytest
import yaml

from condet.data import SYNTHETIC_CLASSES, generate_synthetic, load_voc
from condet.data.synthetic import SHAPE_FAMILIES, SYNTHETIC_RANKINGS, render_scene
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
        assert 1 <= len(image) <= 4
        assert (image.boxes[:, 2:] - image.boxes[:, :2] >= 9).all()
        assert (image.boxes[:, :2] >= 1).all() and (image.boxes[:, 2:] <= 256).all()


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
