"""The crop encoder and loading one from a classify-train run."""

from __future__ import annotations

import pytest
import torch

from condet.errors import CondetError
from condet.models import CropEncoder, load_encoder


def test_a_contrastive_encoder_embeds_on_the_unit_sphere():
    encoder = CropEncoder("resnet18", "random", 16, contrastive=True, small_input_stem=False)
    images = torch.randn(2, 3, 32, 32)
    assert encoder(images).shape == (2, 16)
    assert torch.allclose(encoder.embed(images).norm(dim=1), torch.ones(2), atol=1e-5)


def test_a_classifier_gives_logits_and_embeds_by_its_pooled_features():
    encoder = CropEncoder("resnet18", "random", 5, contrastive=False, small_input_stem=False)
    images = torch.randn(2, 3, 32, 32)
    assert encoder(images).shape == (2, 5)
    assert encoder.embed(images).shape == (2, encoder.backbone.out_channels)


def test_the_small_input_stem_keeps_the_feature_map_larger():
    small = CropEncoder("resnet18", "random", 8, contrastive=True, small_input_stem=True)
    assert small.backbone.body.conv1.stride == (1, 1)
    assert isinstance(small.backbone.body.maxpool, torch.nn.Identity)


def test_load_encoder_rebuilds_what_was_saved(tmp_path):
    encoder = CropEncoder(
        "mobilenet_v3_small", "random", 8, contrastive=True, small_input_stem=False
    )
    config = {"loss": "supcon", "backbone": "mobilenet_v3_small", "projection_dim": 8}
    config["small_input_stem"] = False
    torch.save(
        {"config": config, "known": [0, 1], "mean": [0.5] * 3, "state_dict": encoder.state_dict()},
        tmp_path / "encoder.pt",
    )
    loaded, saved = load_encoder(tmp_path)
    assert not loaded.training and loaded.contrastive and saved["known"] == [0, 1]
    state = loaded.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in encoder.state_dict().items())


def test_load_encoder_says_where_it_looked(tmp_path):
    with pytest.raises(CondetError) as error:
        load_encoder(tmp_path)
    assert str(error.value) == (
        f"no encoder at {tmp_path / 'encoder.safetensors'}; --encoder needs a classify-train "
        "run folder"
    )
