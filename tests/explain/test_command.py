"""``condet explain``: backbones and detectors side by side, errors, seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from condet.cli import main
from condet.explain.figures import save_grid
from condet.models.weights import save_weights
from tests.explain.box_detector import DETECTOR_CONFIG, EXPLAINED
from tests.helpers import record_manual_seeds


@pytest.mark.slow
def test_explain_command_puts_models_side_by_side(synthetic_root, tmp_path):
    out = tmp_path / "gradcam.png"
    argv = ["explain", str(synthetic_root), "--split", "test", "--kind", "backbone"]
    argv += ["--backbone", "resnet18", "--model", "a=random", "--model", "b=random"]
    assert main([*argv, "--images", "2", "--size", "64", "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 0


def write_coco(root: Path, scenes) -> Path:
    images, objects = [], []
    for number, (image, box) in enumerate(scenes, start=1):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / f"{number}.png")
        images.append({"id": number, "file_name": f"{number}.png", "width": 128, "height": 96})
        x1, y1, x2, y2 = box[0].tolist()
        objects.append(
            {
                "id": number,
                "image_id": number,
                "category_id": 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
        )
    path = root / "boxes.json"
    categories = [{"id": 1, "name": "box"}]
    path.write_text(
        json.dumps({"images": images, "annotations": objects, "categories": categories})
    )
    return path


def save_run(folder: Path, state_dict: dict[str, torch.Tensor]) -> Path:
    """A detect-train run folder: ``detector.safetensors`` as
    :func:`condet.train.detect.detect_train` writes it."""
    folder.mkdir(parents=True)
    metadata = {"config": DETECTOR_CONFIG, "classes": ["box"]}
    save_weights(folder / "detector.safetensors", state_dict, metadata)
    return folder


@pytest.fixture(scope="module")
def detector_runs(trained, scenes, tmp_path_factory) -> tuple[Path, Path, Path]:
    """The scenes as a COCO data set, and two run folders: the trained detector, and the same
    network before training."""
    detector, untrained = trained
    root = tmp_path_factory.mktemp("explain-detectors")
    data = write_coco(root, scenes[:EXPLAINED])
    return (
        data,
        save_run(root / "trained", detector.state_dict()),
        save_run(root / "untrained", untrained),
    )


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_explain_command_puts_detectors_side_by_side_with_their_boxes(
    detector_runs, tmp_path, monkeypatch, method
):
    data, trained_run, untrained_run = detector_runs
    drawn = {}

    def save_grid_spy(rows, titles, path, title="", boxes=None):
        drawn.update(rows=rows, titles=titles, boxes=boxes)
        return save_grid(rows, titles, path, title, boxes)

    monkeypatch.setattr("condet.explain.comparison.save_grid", save_grid_spy)
    out = tmp_path / "detectors.png"
    argv = ["explain", str(data), "--kind", "detector", "--method", method, "--images", "2"]
    argv += ["--model", f"trained={trained_run}", "--model", f"untrained={untrained_run}"]
    assert main([*argv, "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 0  # 2 images, 3 columns
    assert drawn["titles"] == ["image", f"trained ({method})", f"untrained ({method})"]
    assert len(drawn["rows"]) == 2 and all(len(row) == 3 for row in drawn["rows"])
    for truth, found, _ in drawn["boxes"]:
        assert [caption for _, caption in truth] == ["box"]
        assert found and all(re.fullmatch(r"box (0\.\d\d|1\.00)", c) for _, c in found)
        found_boxes = torch.tensor([box for box, _ in found])
        assert (box_iou(found_boxes, torch.tensor([truth[0][0]])) > 0.5).any()


def test_explain_command_without_a_detector_is_one_line_error(detector_runs, tmp_path, capsys):
    data, _, _ = detector_runs
    argv = ["explain", str(data), "--kind", "detector", "--model", f"a={tmp_path / 'none'}"]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("condet: error: no detector at") and "\n" not in error


def test_random_backbones_are_drawn_from_the_seed(synthetic_root, tmp_path, monkeypatch):
    from condet.config.explain import ExplainConfig
    from condet.explain.comparison import run_explain
    from condet.options import build_config

    drawn = record_manual_seeds(monkeypatch)

    def picture(seed: int, name: str) -> bytes:
        values = {
            "data": synthetic_root,
            "model": ["a=random", "b=random"],
            "backbone": "resnet18",
            "images": 1,
            "size": 64,
            "seed": seed,
            "out": tmp_path / name,
        }
        return run_explain(build_config(ExplainConfig, values)).read_bytes()

    assert picture(5, "a.png") == picture(5, "b.png")
    assert drawn == [5, 5, 5, 5]
