"""``evaluate-features --weights RUN`` takes a classify-train run as it takes a pretrain run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from condet.cli import main
from condet.evaluation.features import frozen_backbone
from condet.models import build_backbone, save_backbone
from condet.models.backbones import input_normalization
from condet.models.encoder import load_encoder


@pytest.fixture(scope="module")
def classify_run(synthetic_root, tmp_path_factory) -> Path:
    """A one-step classify-train run of a ResNet-18 with the small-input stem (the default)."""
    run = tmp_path_factory.mktemp("classify") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONDET_CACHE_DIR", str(run.parent / "cache"))
        argv = [
            "classify-train",
            "--data",
            str(synthetic_root),
            "--split",
            "trainval",
            "--backbone",
            "resnet18",
            "--weights",
            "random",
            "--small-input-stem",
            "--crop-size",
            "32",
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--max-steps",
            "1",
            "--workers",
            "0",
            "--no-progress",
            "--out",
            str(run),
        ]
        assert main(argv) == 0
    return run


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


def features_argv(data: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return [
        "evaluate-features",
        "--train",
        str(data),
        "--train-split",
        "trainval",
        "--test",
        str(data),
        "--test-split",
        "test",
        "--backbone",
        "resnet18",
        "--weights",
        str(weights),
        "--image-size",
        "32",
        "--k",
        "5",
        "--plot",
        "none",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def test_a_classify_train_run_folder_is_evaluated(synthetic_root, classify_run, tmp_path):
    out = tmp_path / "features"
    assert main(features_argv(synthetic_root, classify_run, out)) == 0
    summary = json.loads((out / "features.json").read_text())
    assert summary["weights"] == str(classify_run)
    assert set(summary["results"]) == {"knn", "ncm", "linear"}


@pytest.mark.parametrize("name", ["folder", "encoder.safetensors"])
def test_the_run_gives_its_encoders_backbone_and_normalisation(classify_run, name):
    weights = classify_run if name == "folder" else classify_run / name
    backbone, (mean, std) = frozen_backbone("resnet18", weights)
    encoder, saved = load_encoder(classify_run)
    # The small-input stem: a 3x3 first convolution, which build_backbone's ResNet lacks.
    assert backbone.body.conv1.kernel_size == (3, 3)
    expected = encoder.backbone.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in backbone.state_dict().items())
    assert (list(mean), list(std)) == (list(saved["mean"]), list(saved["std"]))


def test_a_folder_with_a_backbone_file_is_still_a_pretrain_run(tmp_path):
    saved = build_backbone("mobilenet_v3_small")
    save_backbone(saved, tmp_path / "backbone.safetensors")
    backbone, normalization = frozen_backbone("mobilenet_v3_small", tmp_path)
    assert normalization == input_normalization("mobilenet_v3_small")
    expected = saved.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in backbone.state_dict().items())


def test_a_run_of_another_backbone_is_one_line(synthetic_root, classify_run, tmp_path, capsys):
    argv = features_argv(
        synthetic_root,
        classify_run,
        tmp_path / "out",
        "--backbone",
        "mobilenet_v3_small",
    )
    assert main(argv) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"condet: error: {classify_run / 'encoder.safetensors'} holds a resnet18 encoder, not "
        "mobilenet_v3_small; pass --backbone resnet18"
    ]
