"""One weights format: safetensors with JSON metadata, and the older .pt files still read."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from condet.errors import CondetError
from condet.inference import load_detector
from condet.models.backbones import BackboneError, build_backbone, save_backbone
from condet.models.detector import detector_from_config
from condet.models.encoder import CropEncoder, load_encoder
from condet.models.weights import load_weights, save_weights

DETECTOR_CONFIG = {
    "backbone": "mobilenet_v3_large",
    "weights": "random",
    "norm": "auto",
    "class_agnostic": False,
    "min_size": 128,
    "max_size": 128,
}
ENCODER_CONFIG = {
    "loss": "supcon",
    "backbone": "mobilenet_v3_small",
    "projection_dim": 8,
    "small_input_stem": False,
    "crop_size": 32,
}


def equal_state_dicts(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_tensors_and_metadata_round_trip(tmp_path):
    state_dict = {
        "layer.weight": torch.randn(3, 4),
        "layer.bias": torch.randn(3, dtype=torch.float64),
        "counts": torch.arange(5),
        "flags": torch.tensor([True, False]),
    }
    metadata = {
        "config": {"loss": "ranked", "temperatures": [0.1, 0.2], "queue": 0, "weights": None},
        "classes": ["cat", "dog"],
        "threshold": 0.123456789012345,
        "name": "resnet18",
        "prototypes": torch.randn(2, 8),
    }
    path = save_weights(tmp_path / "w.safetensors", state_dict, metadata)
    loaded, loaded_metadata = load_weights(path)
    assert equal_state_dicts(loaded, state_dict)
    assert all(loaded[key].dtype == value.dtype for key, value in state_dict.items())
    assert torch.equal(loaded_metadata.pop("prototypes"), metadata.pop("prototypes"))
    assert loaded_metadata == metadata


def test_the_metadata_is_json_in_the_safetensors_header(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", {"a": torch.zeros(1)}, {"classes": ["x"]})
    with safe_open(str(path), framework="pt") as handle:
        assert json.loads(handle.metadata()["condet"]) == {"classes": ["x"]}
        assert list(handle.keys()) == ["a"]


def test_a_safetensors_file_of_another_tool_gives_its_header_strings(tmp_path):
    save_file({"a": torch.ones(2)}, tmp_path / "plain.safetensors", metadata={"format": "pt"})
    tensors, metadata = load_weights(tmp_path / "plain.safetensors")
    assert torch.equal(tensors["a"], torch.ones(2)) and metadata == {"format": "pt"}


def test_an_old_pt_file_reads_as_state_dict_and_metadata(tmp_path):
    state_dict = {"w": torch.randn(2, 2)}
    torch.save({"config": {"a": 1}, "classes": ["x"], "state_dict": state_dict}, tmp_path / "d.pt")
    loaded, metadata = load_weights(tmp_path / "d.pt")
    assert equal_state_dicts(loaded, state_dict)
    assert metadata == {"config": {"a": 1}, "classes": ["x"]}


def test_a_pt_file_without_a_state_dict_is_refused(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="state_dict"):
        load_weights(tmp_path / "bare.pt")


@pytest.mark.parametrize("old", [False, True])
def test_load_detector_reads_the_new_file_and_the_old_pt(tmp_path, old):
    model = detector_from_config(DETECTOR_CONFIG, num_classes=2)
    if old:  # as condet detect-train wrote it before the one weights format
        saved = {"config": DETECTOR_CONFIG, "classes": ["a", "b"], "state_dict": model.state_dict()}
        torch.save(saved, tmp_path / "detector.pt")
    else:
        metadata = {"config": DETECTOR_CONFIG, "classes": ["a", "b"]}
        save_weights(tmp_path / "detector.safetensors", model.state_dict(), metadata)
    loaded, classes, config = load_detector(tmp_path)
    assert classes == ["a", "b"] and config == DETECTOR_CONFIG
    assert equal_state_dicts(loaded.state_dict(), model.state_dict())


def test_load_detector_names_the_file_it_looked_for(tmp_path):
    with pytest.raises(CondetError, match=r"no detector at .*detector\.safetensors"):
        load_detector(tmp_path)


@pytest.mark.parametrize("old", [False, True])
def test_load_encoder_reads_the_new_file_and_the_old_pt(tmp_path, old):
    encoder = CropEncoder(
        "mobilenet_v3_small", "random", 8, contrastive=True, small_input_stem=False
    )
    metadata = {
        "config": ENCODER_CONFIG,
        "classes": ["a", "b", "c"],
        "known": [0, 2],
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "prototypes": torch.randn(3, 8),
        "threshold": 0.25,
    }
    if old:  # as condet classify-train wrote it before the one weights format
        torch.save(metadata | {"state_dict": encoder.state_dict()}, tmp_path / "encoder.pt")
    else:
        save_weights(tmp_path / "encoder.safetensors", encoder.state_dict(), metadata)
    loaded, saved = load_encoder(tmp_path)
    assert equal_state_dicts(loaded.state_dict(), encoder.state_dict())
    assert torch.equal(saved.pop("prototypes"), metadata.pop("prototypes"))
    assert saved == metadata


def test_a_backbone_round_trips_and_an_old_backbone_file_still_loads(tmp_path):
    backbone = build_backbone("resnet18")
    path = save_backbone(backbone, tmp_path / "backbone.safetensors")
    assert load_weights(path)[1] == {"backbone": "resnet18"}
    assert equal_state_dicts(
        build_backbone("resnet18", tmp_path).state_dict(), backbone.state_dict()
    )
    # before the one weights format the name was the header entry condet_backbone
    old = {key: value.contiguous() for key, value in backbone.state_dict().items()}
    save_file(old, tmp_path / "old.safetensors", metadata={"condet_backbone": "resnet18"})
    reloaded = build_backbone("resnet18", tmp_path / "old.safetensors")
    assert equal_state_dicts(reloaded.state_dict(), backbone.state_dict())
    with pytest.raises(BackboneError, match="holds resnet18 weights, not resnet34"):
        build_backbone("resnet34", tmp_path / "old.safetensors")
