"""``condet rankings derive`` from random weights repeats with its seed."""

from __future__ import annotations

import pytest

import condet.derive_rankings
from condet.data import load_voc
from condet.derive_rankings import derive_rankings_file
from tests.helpers import record_manual_seeds


def test_random_weights_are_drawn_from_the_seed(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    drawn = record_manual_seeds(monkeypatch)

    def derived(seed: int, name: str) -> str:
        out = derive_rankings_file(
            synthetic_root,
            "trainval",
            tmp_path / name,
            backbone="mobilenet_v3_small",
            crop_size=32,
            seed=seed,
        )
        return out.read_text()

    assert derived(3, "a.yaml") == derived(3, "b.yaml")
    assert drawn == [3, 3]


def test_image_ids_derive_from_those_images_only(synthetic_root, tmp_path, monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def crops(annotations, **_):
        seen.append([image.image_id for image in annotations])
        raise Stop

    monkeypatch.setattr(condet.derive_rankings, "ObjectCropDataset", crops)
    chosen = [image.image_id for image in load_voc(synthetic_root, "trainval")][:4]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(chosen))
    with pytest.raises(Stop):
        derive_rankings_file(synthetic_root, "trainval", tmp_path / "r.yaml", image_ids=ids)
    assert seen == [chosen]
