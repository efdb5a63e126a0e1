"""``condet rankings derive`` from random weights repeats with its seed."""

from __future__ import annotations

import pytest

import condet.rankings.derive
from condet.config.rankings import DeriveConfig
from condet.data import load_voc
from condet.options import build_config
from condet.rankings.derive import run_rankings_derive
from tests.helpers import record_manual_seeds


def derive(data, out, **options):
    """``condet rankings derive DATA --out OUT`` with ``options``, random weights by default."""
    values = {"data": data, "out": out, "split": "trainval", "weights": "random"} | options
    return run_rankings_derive(build_config(DeriveConfig, values))


def test_random_weights_are_drawn_from_the_seed(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    drawn = record_manual_seeds(monkeypatch)

    def derived(seed: int, name: str) -> str:
        out = derive(
            synthetic_root, tmp_path / name, backbone="mobilenet_v3_small", crop_size=32, seed=seed
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

    monkeypatch.setattr(condet.rankings.derive, "ObjectCropDataset", crops)
    chosen = [image.image_id for image in load_voc(synthetic_root, "trainval")][:4]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(chosen))
    with pytest.raises(Stop):
        derive(synthetic_root, tmp_path / "r.yaml", image_ids=ids)
    assert seen == [chosen]
