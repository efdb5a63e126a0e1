"""STAC's offline pseudo-labels: a finished detector labels the unlabelled images once, kept in
``RUN/pseudo_labels.json`` so that ``--resume`` reads them instead of labelling again."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
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
    resume: bool = False,
    class_agnostic: bool = False,
) -> tuple[Annotations, dict[str, Any]]:
    """The teacher's boxes above ``threshold`` on every image of ``pool`` as annotations
    (continuous coordinates, class indices), kept in ``RUN/pseudo_labels.json``, and their
    quality against the hidden true boxes (any box matches any box with ``class_agnostic``).
    With ``resume`` the kept file is read instead, where the same teacher labelled the same
    images at the same threshold."""
    path = run / PSEUDO_LABELS_FILE
    outputs = saved_pseudo_labels(path, teacher, pool, threshold) if resume else None
    if outputs is None:
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
            # as the detector counts them: from 1, and all 1 when it tells no classes apart
            "labels": torch.from_numpy(
                np.ones_like(image.labels) if class_agnostic else image.labels + 1
            ),
        }
        for image in pool.images
    )
    quality = pseudo_label_quality(
        (output, truth)
        for output, truth, known in zip(outputs, truths, pool.known, strict=True)
        if known
    )
    return pool.images.derive(images, one_based=False), quality


def saved_pseudo_labels(
    path: Path, teacher: str | Path, pool: UnlabelledPool, threshold: float
) -> list[dict[str, torch.Tensor]] | None:
    """The detections kept in ``path`` by an earlier start of this run, or None where there are
    none or they are not ``teacher``'s at ``threshold`` on ``pool``'s images, in its order (a
    run restarted with another seed hides other images)."""
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    paths = [entry["path"] for entry in saved["images"]]
    if (
        saved["teacher"] != str(teacher)
        or saved["threshold"] != threshold
        or paths != [str(image.image_path) for image in pool.images]
    ):
        logger.info(
            "%s was written for another teacher, threshold or images: labelling again", path
        )
        return None
    return [
        {
            "boxes": torch.tensor(entry["boxes"], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(entry["labels"], dtype=torch.int64),
            "scores": torch.tensor(entry["scores"], dtype=torch.float32),
        }
        for entry in saved["images"]
    ]
