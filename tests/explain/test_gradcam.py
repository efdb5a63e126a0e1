from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from condet.cli import main
from condet.explain.gradcam import backbone_cam, detector_cam, encoder_cam, overlay, save_grid
from condet.models.backbones import build_backbone
from condet.models.detector import build_detector, detector_from_config
from condet.models.encoder import CropEncoder
from condet.models.weights import save_weights
from tests.helpers import record_manual_seeds


def hook_count(module: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in module.modules()
    )


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_backbone_heatmaps_are_normalised_maps_and_leave_no_hooks(method):
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", "random")
    images = torch.randn(3, 3, 64, 80)
    for _ in range(5):  # repeated explanations must not pile up hooks (memory growth)
        heatmaps = backbone_cam(backbone, images, method)
    assert heatmaps.shape == (3, 64, 80)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 and heatmaps.std() > 0
    assert hook_count(backbone) == 0


def test_heatmap_follows_the_only_object_in_the_image():
    # a blank image with one bright square: the backbone responds where the square is
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", "random")
    image = torch.zeros(1, 3, 128, 128)
    image[:, :, 16:48, 80:112] = 3.0
    heatmap = backbone_cam(backbone, image, "eigencam")[0]
    inside = heatmap[16:48, 80:112].mean()
    outside = np.delete(heatmap, np.s_[8:56], axis=0).mean()
    assert inside > 2 * outside


@pytest.mark.parametrize("contrastive", [True, False])
def test_encoder_heatmaps_for_each_crop(contrastive):
    torch.manual_seed(0)
    encoder = CropEncoder(
        "mobilenet_v3_small", "random", 8 if contrastive else 3, contrastive, False
    )
    crops = torch.randn(4, 3, 64, 64)
    labels = torch.tensor([0, 2, 4, 2])
    prototypes = torch.nn.functional.normalize(torch.randn(5, 8), dim=1) if contrastive else None
    heatmaps = encoder_cam(encoder, crops, labels, prototypes, known=[0, 2, 4])
    assert heatmaps.shape == (4, 64, 64) and np.isfinite(heatmaps).all()
    assert hook_count(encoder) == 0


def test_detector_heatmap_covers_the_image():
    torch.manual_seed(0)
    detector = build_detector(
        "mobilenet_v3_large", 2, weights="random", min_size=128, max_size=128
    ).eval()
    image = torch.rand(3, 96, 128)
    hooks = hook_count(detector)
    heatmap, detections = detector_cam(detector, image, "eigencam", score_threshold=0.0)
    assert heatmap.shape == (96, 128) and np.isfinite(heatmap).all()
    assert detections["boxes"].shape[1] == 4 and hook_count(detector) == hooks
    assert len(detections["scores"]) == len(detections["labels"]) == len(detections["boxes"])


def test_grid_has_one_row_per_image_and_one_column_per_model(tmp_path):
    picture = overlay(torch.rand(3, 32, 32), np.random.default_rng(0).random((32, 32)))
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    path = save_grid([[picture] * 3] * 2, ["image", "a", "b"], tmp_path / "grid.png", "title")
    width, height = Image.open(path).size
    assert width > height  # 3 columns, 2 rows


@pytest.mark.slow
def test_explain_command_puts_models_side_by_side(synthetic_root, tmp_path):
    out = tmp_path / "gradcam.png"
    argv = ["explain", str(synthetic_root), "--split", "test", "--kind", "backbone"]
    argv += ["--backbone", "resnet18", "--model", "a=random", "--model", "b=random"]
    assert main([*argv, "--images", "2", "--size", "64", "--out", str(out)]) == 0
    width, height = Image.open(out).size
    assert width > height > 0


# A Faster R-CNN trained in the test until it finds the one bright box of each scene (a few
# seconds). Its backbone is EfficientNet-Lite0 with the ImageNet weights that come with condet's
# dependencies (nothing is downloaded), with what a detector of the paper's "ImageNet start" has:
# FrozenBatchNorm2d and a frozen stem and first stage.
DETECTOR_CONFIG = {
    "backbone": "efficientnet_lite0",
    "weights": "imagenet",
    "trainable_stages": 3,
    "norm": "auto",
    "class_agnostic": False,
    "min_size": 96,
    "max_size": 128,
    "smallest_stride": 8,
    "fpn_channels": 32,
    "proposals": 64,
    "roi_samples": 64,
}
EXPLAINED = 4  # scenes explained (and the detector trained until it finds their boxes)
# A detector this young is not always explained well by its gradients. Over eight seeds the
# heat of GradCAM and GradCAM++ inside the boxes was 0.8 to 13 times that outside when first
# measured. On a later machine (Xeon with AVX-512 and AMX, 2026-12-02) it was 0.07 to 2.9 times,
# and below 1 for three to four seeds of each method. Training to a fixed 100 steps instead gave
# 0.3 to 3.6 times, still below 1 for two seeds. EigenCAM gave 4 to 18 times on every seed
# and machine. So only EigenCAM's heat is required to lie on the boxes; the gradient methods are
# checked for what holds on every seed: a heatmap in [0, 1] that is not flat, and the
# detections they explain. The training is seeded and single-threaded: threads change the sums,
# and so the detector.
SEED = 2


def box_scene(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A uint8 image ``[3, 96, 128]``: dim noise with one bright rectangle, and its box."""
    height, width = 96, 128
    image = (torch.rand(3, height, width, generator=generator) * 50).byte()
    box_width = int(torch.randint(width // 3, width // 2, (1,), generator=generator))
    box_height = int(torch.randint(height // 3, height // 2, (1,), generator=generator))
    x = int(torch.randint(0, width - box_width, (1,), generator=generator))
    y = int(torch.randint(0, height - box_height, (1,), generator=generator))
    image[:, y : y + box_height, x : x + box_width] = torch.tensor([230, 200, 50])[:, None, None]
    return image, torch.tensor([[x, y, x + box_width, y + box_height]], dtype=torch.float32)


@pytest.fixture(scope="module")
def scenes() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(SEED)
    return [box_scene(generator) for _ in range(8)]


def finds_every_box(detector: torch.nn.Module, scenes) -> bool:
    detector.eval()
    with torch.no_grad():
        outputs = detector([image.float() / 255 for image, _ in scenes])
    detector.train()
    return all(
        ((output["scores"] >= 0.5) & (box_iou(output["boxes"], box)[:, 0] > 0.5)).any()
        for output, (_, box) in zip(outputs, scenes, strict=True)
    )


def train_until_it_finds_the_boxes(detector: torch.nn.Module, scenes, steps: int = 60) -> None:
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=0.02, momentum=0.9)
    detector.train()
    for step in range(1, steps + 1):
        batch = [scenes[(2 * step + offset) % len(scenes)] for offset in range(2)]
        targets = [{"boxes": box, "labels": torch.ones(1, dtype=torch.long)} for _, box in batch]
        losses = detector([image.float() / 255 for image, _ in batch], targets)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        # a few images and a high rate: unclipped, a bad step can blow the heads up
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        if step % 5 == 0 and finds_every_box(detector, scenes[:EXPLAINED]):
            return


@pytest.fixture(scope="module")
def trained(scenes) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The trained detector, and its weights before training (untrained heads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            detector = detector_from_config(DETECTOR_CONFIG, num_classes=1)
            untrained = copy.deepcopy(detector.state_dict())
            train_until_it_finds_the_boxes(detector, scenes)
    finally:
        torch.set_num_threads(threads)
    assert finds_every_box(detector, scenes[:EXPLAINED]), "the test detector did not learn"
    return detector.eval(), untrained


def box_mask(shape: tuple[int, int], boxes: torch.Tensor) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x1, y1, x2, y2 in boxes.round().int().tolist():
        mask[y1:y2, x1:x2] = True
    return mask


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_detector_heatmaps_explain_the_detected_objects(trained, scenes, method):
    detector, _ = trained
    inside, outside = [], []
    for image, box in scenes[:EXPLAINED]:
        heatmap, detections = detector_cam(detector, image.float() / 255, method)
        assert heatmap.shape == (96, 128) and heatmap.min() >= 0 and heatmap.max() <= 1
        assert (box_iou(detections["boxes"], box)[:, 0] > 0.5).any()
        assert (detections["scores"] >= 0.5).all() and (detections["labels"] == 1).all()
        mask = box_mask(heatmap.shape, detections["boxes"])
        inside.append(heatmap[mask])
        outside.append(heatmap[~mask])
    heat = np.concatenate([*inside, *outside])
    assert heat.std() > 0
    if method == "eigencam":
        # pooled over the scenes: on one scene a map can light the box's edges more than its
        # inside (a flat box has nothing else to see), or the image border
        assert np.concatenate(inside).mean() > 2 * np.concatenate(outside).mean()


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_detector_cam_leaves_the_detector_as_it_was(trained, scenes, method):
    detector, _ = trained
    flags = [parameter.requires_grad for parameter in detector.parameters()]
    assert not all(flags)  # frozen stages
    hooks = hook_count(detector)
    image = scenes[0][0].float() / 255
    with torch.no_grad():
        heatmap, _ = detector_cam(detector, image, method)
    with torch.inference_mode():
        again, _ = detector_cam(detector, image, method)
    assert heatmap.std() > 0
    np.testing.assert_allclose(again, heatmap, atol=1e-5)
    assert [parameter.requires_grad for parameter in detector.parameters()] == flags
    assert all(parameter.grad is None for parameter in detector.parameters())
    assert hook_count(detector) == hooks


def test_detector_with_nothing_detected_has_nothing_to_explain(trained, scenes):
    detector, _ = trained
    image = scenes[0][0].float() / 255
    heatmap, detections = detector_cam(detector, image, "gradcam", score_threshold=1.1)
    assert heatmap.shape == (96, 128) and not heatmap.any()
    assert len(detections["boxes"]) == 0
    heatmap, _ = detector_cam(detector, image, "eigencam", score_threshold=1.1)
    assert heatmap.std() > 0  # EigenCAM needs no target


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

    monkeypatch.setattr("condet.explain.command.save_grid", save_grid_spy)
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
    from condet.explain.command import explain

    drawn = record_manual_seeds(monkeypatch)

    def picture(seed: int, name: str) -> bytes:
        models = [("a", "random"), ("b", "random")]
        out = explain(
            synthetic_root,
            "test",
            models,
            "backbone",
            tmp_path / name,
            backbone="resnet18",
            count=1,
            size=64,
            seed=seed,
        )
        return out.read_bytes()

    assert picture(5, "a.png") == picture(5, "b.png")
    assert drawn == [5, 5, 5, 5]
