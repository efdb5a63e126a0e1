"""STAC's offline pseudo-labels: a finished detector labels the unlabelled images once, kept in
``RUN/pseudo_labels.json`` so that ``--resume`` reads them instead of labelling again."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.datasets import continuous_boxes
from condet.data.unlabelled import UnlabelledPool
from condet.evaluation.pseudo_labels import pseudo_label_quality
from condet.inference import load_detector, predict_images
from condet.io import write_text_atomic

logger = logging.getLogger("condet")

PSEUDO_LABELS_FILE = "pseudo_labels.json"


def above(detections: dict[str, torch.Tensor], threshold: float) -> dict[str, torch.Tensor]:
    """One image's detections (boxes, labels, scores) scoring at least ``threshold``."""
    keep = detections["scores"] >= threshold
    return {key: detections[key][keep] for key in ("boxes", "labels", "scores")}


def offline_pseudo_labels(
    teacher: str | Path,
    pool: UnlabelledPool,
    threshold: float,
    run: Path,
    batch_size: int,
    progress: bool,
) -> tuple[Annotations, dict[str, Any]]:
    """The teacher's boxes above ``threshold`` on every image of ``pool`` as annotations
    (continuous coordinates, class indices), kept in ``RUN/pseudo_labels.json`` and read from
    it on ``--resume``, and their quality against the hidden true boxes."""
    path = run / PSEUDO_LABELS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        outputs = [
            {
                "boxes": torch.tensor(entry["boxes"], dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(entry["labels"], dtype=torch.int64),
                "scores": torch.tensor(entry["scores"], dtype=torch.float32),
            }
            for entry in saved["images"]
        ]
    else:
        model, _, _ = load_detector(teacher)
        logger.info("labelling %d unlabelled images with %s", len(pool), teacher)
        files = [image.image_path for image in pool.images]
        outputs = predict_images(model, files, batch_size, "cpu", progress)
        outputs = [above(output, threshold) for output in outputs]
        entries = [
            {"path": str(image.image_path), "width": image.width, "height": image.height}
            | {key: output[key].tolist() for key in ("boxes", "labels", "scores")}
            for image, output in zip(pool.images, outputs, strict=True)
        ]
        document = {"teacher": str(teacher), "threshold": threshold, "images": entries}
        write_text_atomic(path, json.dumps(document))
    images = [
        ImageAnnotation(
            image.image_id,
            image.image_path,
            image.width,
            image.height,
            output["boxes"].numpy(),
            output["labels"].numpy() - 1,  # the detector's labels count the background as 0
        )
        for image, output in zip(pool.images, outputs, strict=True)
    ]
    one_based = pool.images.one_based
    truths = (
        {
            "boxes": torch.from_numpy(continuous_boxes(image, one_based)),
            "labels": torch.from_numpy(image.labels + 1),  # as the detector counts them
        }
        for image in pool.images
    )
    quality = pseudo_label_quality(
        (output, truth)
        for output, truth, known in zip(outputs, truths, pool.known, strict=True)
        if known
    )
    return pool.images.derive(images, one_based=False), quality
