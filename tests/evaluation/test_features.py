from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from condet.cli import main
from condet.data import load_voc
from condet.evaluation.features import first_per_class, plot_embeddings


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


def test_on_a_detection_data_set_uses_object_crops(synthetic_root, tmp_path):
    out = tmp_path / "features"
    argv = [
        "evaluate-features",
        "--train",
        str(synthetic_root),
        "--train-split",
        "trainval",
        "--test",
        str(synthetic_root),
        "--test-split",
        "test",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--image-size",
        "32",
        "--k",
        "10",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    summary = json.loads((out / "features.json").read_text())
    assert summary["train_samples"] == load_voc(synthetic_root, "trainval").num_objects
    assert summary["test_samples"] == load_voc(synthetic_root, "test").num_objects
    assert set(summary["results"]) == {"knn", "ncm", "linear"}
    for scores in summary["results"].values():
        assert 0 <= scores["top1"] <= scores["top3"] <= 1
    assert (out / "features.md").read_text().startswith("| classifier | top-1 | top-3 |")
    with Image.open(out / "embedding.png") as plot:
        assert plot.size[0] > 300
    assert (out / "config.yaml").is_file() and (out / "environment.json").is_file()


def test_on_class_folders_with_tsne(tmp_path):
    for split in ("train", "test"):
        for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for index in range(6):
                shade = tuple(min(255, c + 5 * index) for c in colour)
                Image.new("RGB", (40, 30), shade).save(folder / f"{index}.png")
    out = tmp_path / "out"
    argv = [
        "evaluate-features",
        "--train",
        str(tmp_path / "train"),
        "--test",
        str(tmp_path / "test"),
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--image-size",
        "32",
        "--methods",
        "ncm",
        "knn",
        "--k",
        "3",
        "--plot",
        "tsne",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    results = json.loads((out / "features.json").read_text())["results"]
    assert results["ncm"]["top1"] == 1.0  # flat colours: even random features separate them
    assert (out / "embedding.png").is_file()


def test_mismatched_classes_are_an_error(synthetic_root, tmp_path, capsys):
    folder = tmp_path / "classes" / "only"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    argv = [
        "evaluate-features",
        "--train",
        str(synthetic_root),
        "--test",
        str(tmp_path / "classes"),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--image-size",
        "32",
    ]
    assert main(argv) == 1
    assert "differ from --train's" in capsys.readouterr().err


def test_first_per_class_keeps_the_first_of_each_label_in_order():
    assert first_per_class([2, 0, 2, 1, 0, 2, 2], 2) == [0, 1, 2, 3, 4]
    assert first_per_class([2, 0, 2], 0) == [0, 1, 2]
    assert first_per_class([], 3) == []


@pytest.mark.parametrize("cap, expected", [(3, 6), (0, 12)])
def test_max_per_class_caps_each_split_and_class(tmp_path, cap, expected):
    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for index in range(6):
                Image.new("RGB", (16, 16), (40 * index, 0, 0)).save(folder / f"{index}.png")
    out = tmp_path / "out"
    argv = ["evaluate-features", "--train", str(tmp_path / "train"), "--test"]
    argv += [
        str(tmp_path / "test"),
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--image-size",
        "32",
    ]
    argv += ["--methods", "ncm", "--plot", "none", "--max-per-class", str(cap)]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "features.json").read_text())
    assert summary["train_samples"] == summary["test_samples"] == expected


def test_max_per_class_caps_object_crops(synthetic_root, tmp_path):
    out = tmp_path / "features"
    argv = ["evaluate-features", "--train", str(synthetic_root), "--train-split", "trainval"]
    argv += [
        "--test",
        str(synthetic_root),
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
    ]
    argv += ["--image-size", "32", "--methods", "ncm", "--plot", "none", "--max-per-class", "1"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "features.json").read_text())
    classes = {
        int(label) for image in load_voc(synthetic_root, "trainval") for label in image.labels
    }
    assert summary["train_samples"] == len(classes)


def test_random_weights_repeat_with_the_seed(synthetic_root, tmp_path):
    def results(out, seed, state):
        torch.manual_seed(state)  # what ran before in the same process must not matter
        argv = [
            "evaluate-features",
            *("--train", str(synthetic_root), "--train-split", "trainval"),
            *("--test", str(synthetic_root), "--test-split", "test"),
            *("--backbone", "mobilenet_v3_small", "--weights", "random", "--image-size", "32"),
            *("--k", "10", "--seed", str(seed), "--out", str(tmp_path / out), "--no-progress"),
        ]
        assert main(argv) == 0
        # The embedding plot is drawn from the test features themselves: a change of initial
        # weights moves its points even where the accuracies happen to stay the same.
        return (tmp_path / out / "embedding.png").read_bytes()

    assert results("first", 0, state=1) == results("again", 0, state=2)


def test_plot_embeddings_draws_the_marked_classes_as_crosses(monkeypatch, tmp_path):
    from matplotlib.axes import Axes

    drawn = {}
    scatter = Axes.scatter

    def recording_scatter(self, *points, label=None, **style):
        drawn[label] = style.get("marker")
        return scatter(self, *points, label=label, **style)

    monkeypatch.setattr(Axes, "scatter", recording_scatter)
    labels = torch.tensor([0, 1, 2] * 4)
    path = plot_embeddings(
        torch.randn(12, 6), labels, ["a", "b", "c", "absent"], tmp_path / "map.png", marked=[1, 3]
    )
    assert drawn == {"a": None, "b": "x", "c": None} and path.is_file()
