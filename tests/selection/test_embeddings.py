from __future__ import annotations

import os

import pytest
import torch

from condet.data.pool import image_pool
from condet.selection import embeddings as module
from condet.selection import image_embeddings


@pytest.fixture
def paths(synthetic_root):
    return image_pool(synthetic_root, "train").paths[:6]


def test_pooled_features_of_every_image_cached_for_the_next_run(paths, tmp_path, monkeypatch):
    features, images = image_embeddings(paths, "resnet18", "random", size=32, cache_dir=tmp_path)
    assert features.shape == (6, 512) and images.shape == (6, 3, 32, 32)
    assert images.dtype == torch.uint8 and torch.isfinite(features).all()
    assert len(list(tmp_path.glob("embeddings-*.pt"))) == 1

    def no_embedding(*args, **kwargs):
        raise AssertionError("embedded again instead of reading the cache")

    monkeypatch.setattr(module, "embed", no_embedding)
    again, _ = image_embeddings(paths, "resnet18", "random", size=32, cache_dir=tmp_path)
    assert torch.equal(again, features)
    with pytest.raises(AssertionError, match="embedded again"):  # other weights: not cached
        image_embeddings(paths, "resnet18", "random", size=32, cache_dir=tmp_path, seed=1)


def test_a_weights_file_is_loaded_and_keyed_by_the_file(paths, tmp_path):
    from condet.models.backbones import build_backbone, save_backbone

    weights = save_backbone(build_backbone("resnet18", seed=3), tmp_path / "b.safetensors")
    from_file, _ = image_embeddings(paths, "resnet18", str(weights), size=32, cache_dir=tmp_path)
    drawn, _ = image_embeddings(paths, "resnet18", "random", size=32, cache_dir=tmp_path, seed=3)
    assert torch.allclose(from_file, drawn)
    written = weights.stat().st_mtime_ns
    save_backbone(build_backbone("resnet18", seed=4), weights)  # the file changes
    # a file system with coarse times could give the new file the old one's
    os.utime(weights, ns=(written + 10**9, written + 10**9))
    changed, _ = image_embeddings(paths, "resnet18", str(weights), size=32, cache_dir=tmp_path)
    assert not torch.allclose(changed, from_file)
