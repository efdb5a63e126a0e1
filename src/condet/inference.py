"""Using a trained detector: ``condet predict`` and ``condet export``.

A ``condet detect-train`` run folder holds ``detector.safetensors`` (the detector's weights,
its config and class names in the metadata; :mod:`condet.models.weights`), or ``detector.pt``
in runs from before that format. :func:`load_detector` rebuilds the detector from either;
:func:`predict_images` runs it on image files in batches; :func:`export_detector` writes it as
ONNX or TorchScript for deployment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.io import ImageReadMode, decode_image, read_file, write_png
from torchvision.transforms.v2 import functional as F
from torchvision.utils import draw_bounding_boxes
from tqdm.auto import tqdm

from condet.data.problems import DataError
from condet.data.yolo import IMAGE_SUFFIXES
from condet.errors import CondetError
from condet.io import atomic_path, write_text_atomic
from condet.models.detector import detector_from_config
from condet.models.weights import load_weights
from condet.run_folder import missing_model

logger = logging.getLogger("condet")

DETECTOR_FILES = ("detector.safetensors", "detector.pt")
"""What a detect-train run's detector is saved as, newest format first."""


def load_detector(
    source: str | Path, option: str = "--checkpoint"
) -> tuple[torch.nn.Module, list[str], dict[str, Any]]:
    """The detector of a run folder (or of its detector file), its class names and config.

    ``option`` is how the user named ``source``, for the message when it holds no detector.
    """
    path = Path(source)
    if path.is_dir():
        found = (path / name for name in DETECTOR_FILES if (path / name).is_file())
        path = next(found, path / DETECTOR_FILES[0])
    if not path.is_file():
        raise CondetError(missing_model(path, "detector", "detect-train", option))
    try:
        state_dict, saved = load_weights(path)
        config, classes = saved["config"], saved["classes"]
    except Exception as error:
        raise CondetError(f"{path}: not a condet detector file ({error})") from None
    # The saved weights replace the backbone's; its norm layers must be those it trained with.
    overrides = {"weights": "random", "norm": _saved_norm(config)}
    model = detector_from_config(config | overrides, len(classes))
    model.load_state_dict(state_dict)
    names = ["object"] if config["class_agnostic"] else list(classes)
    return model.eval(), names, config


def _saved_norm(config: dict[str, Any]) -> str:
    """The norm layers the detector was trained with (``auto`` depends on its weights)."""
    if config["norm"] != "auto":
        return config["norm"]
    return "frozen" if str(config["weights"]) != "random" else "batchnorm"


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively) in named folders."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(item, "image or folder not found")
    if not files:
        raise DataError(", ".join(map(str, inputs)), "no images found")
    return files


@torch.inference_mode()
def predict_images(
    model: torch.nn.Module,
    files: Sequence[Path],
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[dict[str, torch.Tensor]]:
    """Detections (boxes in pixels, scores, labels with 0 = background) for each file."""
    model = model.to(device).eval()
    outputs = []
    starts = range(0, len(files), batch_size)
    for start in tqdm(starts, desc="predicting", unit="batch", disable=not progress, leave=False):
        images = []
        for path in files[start : start + batch_size]:
            try:
                pixels = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
            except (RuntimeError, OSError) as error:
                raise DataError(path, f"cannot decode the image ({error})") from None
            images.append(F.to_dtype(pixels, torch.float32, scale=True).to(device))
        outputs += [{k: v.cpu() for k, v in output.items()} for output in model(images)]
    return outputs


def write_predictions(
    files: Sequence[Path],
    outputs: Sequence[dict[str, torch.Tensor]],
    classes: Sequence[str],
    out: Path,
    score_threshold: float = 0.3,
    draw: bool = True,
) -> Path:
    """COCO results JSON (``predictions.json``, with ``images.json`` naming the image ids)
    and, with ``draw``, each image with its boxes above ``score_threshold``."""
    out.mkdir(parents=True, exist_ok=True)
    results, images = [], []
    for image_id, (path, output) in enumerate(zip(files, outputs, strict=True), start=1):
        images.append({"id": image_id, "file_name": str(path)})
        results += coco_results(
            image_id, output["boxes"], output["scores"], output["labels"].tolist()
        )
        if draw:
            _draw(path, output, classes, score_threshold, out / f"{image_id:06d}_{path.stem}.png")
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(classes)]
    write_text_atomic(out / "predictions.json", json.dumps(results))
    write_text_atomic(out / "images.json", json.dumps({"images": images, "categories": categories}))
    return out / "predictions.json"


def write_prelabels(
    files: Sequence[Path],
    outputs: Sequence[dict[str, torch.Tensor]],
    classes: Sequence[str],
    out: Path,
    data_format: str,
    score_threshold: float,
    split: str = "train",
) -> Path:
    """The boxes scoring at least ``score_threshold`` as a ``voc`` / ``coco`` / ``yolo`` data
    set in ``out`` (:func:`condet.data.export.write_dataset`); the path condet reads it from."""
    from PIL import Image

    from condet.data.annotations import Annotations, ImageAnnotation
    from condet.data.export import write_dataset

    images = []
    for path, output in zip(files, outputs, strict=True):
        keep = output["scores"] >= score_threshold
        with Image.open(path) as opened:
            width, height = opened.size
        boxes = output["boxes"][keep].numpy()
        labels = output["labels"][keep].numpy() - 1  # the detector counts the background as 0
        images.append(ImageAnnotation(path.stem, path, width, height, boxes, labels))
    return write_dataset(Annotations(images, classes, source=str(out)), out, data_format, split)


def coco_results(
    image_id: int | str, boxes: Any, scores: Any, category_ids: Sequence[int], **extra: Any
) -> list[dict[str, Any]]:
    """COCO results entries (``bbox`` as x, y, width, height) of one image's ``xyxy`` boxes;
    ``extra`` names per-box lists added to every entry under their name."""
    results = []
    columns = [boxes.tolist(), scores.tolist(), list(category_ids), *extra.values()]
    for box, score, category_id, *values in zip(*columns, strict=True):
        x1, y1, x2, y2 = box
        entry = {
            "image_id": image_id,
            "category_id": int(category_id),
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": score,
        }
        results.append(entry | dict(zip(extra, values, strict=True)))
    return results


def _draw(
    path: Path,
    output: dict[str, torch.Tensor],
    classes: Sequence[str],
    score_threshold: float,
    target: Path,
) -> None:
    pixels = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    keep = output["scores"] >= score_threshold
    labels = [
        f"{classes[int(label) - 1]} {score:.2f}"
        for label, score in zip(output["labels"][keep], output["scores"][keep], strict=True)
    ]
    drawn = draw_bounding_boxes(pixels, output["boxes"][keep], labels=labels, width=2)
    with atomic_path(target) as temporary:
        write_png(drawn, str(temporary))


def export_detector(model: torch.nn.Module, out: Path, export_format: str, size: int) -> Path:
    """The detector as ONNX (opset 17, dynamic image size) or TorchScript.

    Both take a list with one float image ``[3, H, W]`` in [0, 1] and return boxes, labels
    and scores, like the PyTorch model.
    """
    model = model.eval()
    example = [torch.rand(3, size, size)]
    if export_format == "torchscript":
        scripted = torch.jit.script(model)
        with atomic_path(out) as temporary:
            scripted.save(str(temporary))
        return out
    if export_format != "onnx":
        raise CondetError(f"unknown export format {export_format!r}; use onnx or torchscript")
    with atomic_path(out) as temporary:
        torch.onnx.export(
            model,
            (example,),
            str(temporary),
            opset_version=17,
            dynamo=False,
            input_names=["image"],
            output_names=["boxes", "labels", "scores"],
            dynamic_axes={
                "image": {1: "height", 2: "width"},
                "boxes": {0: "detections"},
                "labels": {0: "detections"},
                "scores": {0: "detections"},
            },
        )
    return out
