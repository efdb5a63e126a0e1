"""``condet explain``: models side by side, as heatmaps over the same images.

    condet explain runs/demo/data --split test --kind backbone --backbone resnet18 \
        --model ssl=runs/simclr --model random=random --out runs/gradcam.png
    condet explain runs/demo/data --split test --kind detector --method gradcam++ \
        --model ImageNet=runs/det-imagenet --model SSL=runs/det-simclr --out runs/detectors.png
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from condet.config.explain import ExplainConfig
from condet.data.cache import default_cache_dir
from condet.data.crops import ObjectCropDataset
from condet.data.datasets import continuous_boxes, read_rgb
from condet.data.load import load_annotations
from condet.data.normalize import Normalize
from condet.errors import CondetError
from condet.explain.detector_cam import detector_cam
from condet.explain.figures import overlay, save_grid
from condet.explain.gradcam import backbone_cam, encoder_cam
from condet.models.backbones import build_backbone, input_normalization
from condet.run_folder import write_config, write_metrics


def parse_models(specs: list[str]) -> list[tuple[str, str]]:
    """``label=source`` pairs (a bare source is its own label)."""
    models = []
    for spec in specs:
        label, _, source = spec.partition("=")
        models.append((label, source) if source else (spec, spec))
    return models


def run_explain(config: ExplainConfig) -> Path:
    """Heatmaps of every ``--model`` on the first ``--images`` images (or crops) of the split,
    one column per model, with the config and ``metrics.json`` beside the picture; its path.

    A ``random`` model is drawn from ``--seed``, so that the picture repeats.
    """
    models = parse_models(config.model)
    annotations = load_annotations(config.data, config.split, skip_invalid=True)
    method, count, out = config.method, config.images, config.out
    if config.kind == "encoder":
        path = _explain_encoders(annotations, models, out, method, count)
    elif config.kind == "detector":
        where = f"{config.data} ({config.split})"
        path = _explain_detectors(annotations, models, out, method, count, where)
    else:
        path = _explain_backbones(annotations, models, config)
    write_config(path, config, single_file=True)
    write_metrics(path, {"models": len(models), "images": count}, single_file=True)
    return path


def _explain_backbones(annotations, models, config: ExplainConfig) -> Path:
    backbone, method, size = config.backbone, config.method, config.size
    images = [read_rgb(image).float() / 255 for image in list(annotations)[: config.images]]
    columns: list[list] = [[(image * 255).byte().permute(1, 2, 0).numpy() for image in images]]
    for _, source in models:
        model = build_backbone(backbone, source, config.seed)
        resized = torch.stack(
            [
                torch.nn.functional.interpolate(
                    image[None], size=(size, size), mode="bilinear", antialias=True
                )[0]
                for image in images
            ]
        )
        normalize = Normalize(*input_normalization(backbone))
        heatmaps = backbone_cam(model, normalize(resized), method)
        columns.append(
            [overlay(image, heatmap) for image, heatmap in zip(resized, heatmaps, strict=True)]
        )
    titles = ["image", *(f"{label} ({method})" for label, _ in models)]
    rows = [list(row) for row in zip(*columns, strict=True)]
    title = f"{config.kind} heatmaps on {config.data} ({config.split})"
    return save_grid(rows, titles, config.out, title=title)


def _explain_detectors(annotations, models, out: Path, method: str, count: int, name: str) -> Path:
    """The images with their true boxes, then each detector's heatmap under its own boxes."""
    from condet.inference import load_detector

    chosen = list(annotations)[:count]
    images = [read_rgb(image).float() / 255 for image in chosen]
    columns: list[list] = [[(image * 255).byte().permute(1, 2, 0).numpy() for image in images]]
    truth = [
        zip(continuous_boxes(image, annotations.one_based).tolist(), image.labels, strict=True)
        for image in chosen
    ]
    boxes = [[[(box, annotations.classes[label]) for box, label in pairs] for pairs in truth]]
    for label, source in models:
        detector, classes, _ = load_detector(source, f"--model {label}=... (--kind detector)")
        pictures, captioned = [], []
        for image in images:
            heatmap, found = detector_cam(detector, image, method)
            pictures.append(overlay(image, heatmap))
            captioned.append(_captions(found, classes))
        columns.append(pictures)
        boxes.append(captioned)
    titles = ["image", *(f"{label} ({method})" for label, _ in models)]
    rows = [list(row) for row in zip(*columns, strict=True)]
    by_row = [list(row) for row in zip(*boxes, strict=True)]
    return save_grid(rows, titles, out, title=f"detector heatmaps on {name}", boxes=by_row)


def _captions(found: dict[str, torch.Tensor], classes: list[str]) -> list[tuple[list, str]]:
    """Each detected box with its class and score (torchvision's label 0 is the background)."""
    return [
        (box, f"{classes[label - 1]} {score:.2f}")
        for box, label, score in zip(
            found["boxes"].tolist(), found["labels"].tolist(), found["scores"].tolist(), strict=True
        )
    ]


def _explain_encoders(annotations, models, out: Path, method: str, count: int) -> Path:
    from condet.models.encoder import crop_context, load_encoder

    columns: list[list] = []
    titles = ["crop"]
    crops = None
    for label, source in models:
        encoder, saved = load_encoder(Path(source), f"--model {label}=... (--kind encoder)")
        size = saved["config"]["crop_size"]
        if crops is None:
            crops = ObjectCropDataset(
                annotations,
                size=size,
                context=crop_context(saved),
                cache_dir=default_cache_dir(),
            )
            chosen = known_crops(crops.labels, saved["known"], count)
            pictures = crops.crops[chosen]
            labels = crops.labels[chosen]
            columns.append([crop.permute(1, 2, 0).numpy() for crop in pictures])
        normalize = Normalize(saved["mean"], saved["std"])
        heatmaps = encoder_cam(
            encoder, normalize(pictures), labels, saved["prototypes"], saved["known"], method
        )
        floats = pictures.float() / 255
        columns.append(
            [overlay(image, heatmap) for image, heatmap in zip(floats, heatmaps, strict=True)]
        )
        titles.append(f"{label} ({method})")
    rows = [list(row) for row in zip(*columns, strict=True)]
    names = [crops.classes[int(label)] for label in labels]
    return save_grid(rows, titles, out, title="crops: " + ", ".join(names))


def known_crops(labels: torch.Tensor, known: Sequence[int], count: int) -> torch.Tensor:
    """Indices of up to ``count`` crops spread evenly over those of the ``known`` classes:
    a withheld class has no prototype or logit to explain, so its heatmap would be blank (or
    another class's).

    >>> known_crops(torch.tensor([0, 2, 1, 2, 0, 1]), known=[0, 1], count=3)
    tensor([0, 2, 5])
    """
    candidates = torch.isin(labels, torch.tensor(list(known))).nonzero().flatten()
    if not len(candidates):
        raise CondetError("the split has no crop of a class the encoder knows: nothing to explain")
    spread = torch.linspace(0, len(candidates) - 1, min(count, len(candidates))).long()
    return candidates[spread]
