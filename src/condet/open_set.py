"""Detect, then classify with rejection: an open-set detector (``condet pipeline``).

The contrastive-detection report's "extra credit", made a command: a detector (class-aware or
class-agnostic: only its boxes are used) proposes boxes, each box is cropped and embedded by a
``classify-train`` encoder, labelled by its nearest class prototype (cosine), and labelled
``unknown`` when that similarity is below the encoder's rejection threshold (by default the
one that accepts 95% of the known training crops).

Evaluation on an annotated split: VOC AP50 and COCO AP of the known classes (boxes of
withheld classes are not positives, so a detection on one that is labelled as a known class
is a false positive), and, over the ground-truth boxes a detection finds (IoU >= 0.5), the
fraction of unknown objects labelled ``unknown`` (rejection rate) and of known objects
labelled ``unknown`` (false rejection rate).

    condet pipeline --detector runs/det --encoder runs/ood --data VOC2007 --split test \
        --out runs/pipeline
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from condet.config.pipeline import PipelineConfig
from condet.data.annotations import Annotations
from condet.data.crops import crop_boxes
from condet.data.datasets import continuous_boxes, read_rgb
from condet.data.load import DataSets
from condet.data.normalize import Normalize
from condet.data.splits import drop_classes, mark_withheld
from condet.errors import CondetError
from condet.evaluation.coco_metrics import coco_ap
from condet.evaluation.detection import voc_ap
from condet.evaluation.detectors import predict
from condet.evaluation.encoders import encode
from condet.inference import coco_results, load_detector
from condet.io import write_text_atomic
from condet.models.encoder import CropEncoder, crop_context, load_encoder
from condet.run_folder import write_config, write_metrics

logger = logging.getLogger("condet")

UNKNOWN = -1


@dataclass
class OpenSetClassifier:
    """Nearest-prototype labels for crops, ``UNKNOWN`` (-1) below ``threshold``.

    Attributes:
        encoder: a crop encoder (:class:`~condet.models.encoder.CropEncoder`).
        prototypes: ``[K, D]`` normalised mean embeddings of the known classes.
        known: ``[K]`` the class ids of the prototypes.
        threshold: cosine similarity below which a crop is unknown.
        normalize: the encoder's input normalisation.
        crop_size: side of the crops the encoder was trained on.
        context: the margin around boxes its crops were cut with, per box side.
    """

    encoder: CropEncoder
    prototypes: Tensor
    known: Tensor
    threshold: float
    normalize: Normalize
    crop_size: int
    context: float = 0.0

    @classmethod
    def from_saved(
        cls,
        encoder: CropEncoder,
        saved: dict[str, Any],
        threshold: float | None = None,
        source: Path | None = None,
    ) -> OpenSetClassifier:
        """The classifier of an encoder and what :func:`load_encoder` read with it."""
        if "prototypes" not in saved:
            raise CondetError(f"{source}: the encoder has no prototypes; train it again")
        known = torch.tensor(saved["known"])
        return cls(
            encoder,
            saved["prototypes"][known],
            known,
            saved["threshold"] if threshold is None else threshold,
            Normalize(saved["mean"], saved["std"]),
            saved["config"]["crop_size"],
            crop_context(saved),
        )

    def classify(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """Class ids (``UNKNOWN`` if rejected) and similarities of uint8 ``[N, 3, S, S]`` crops."""
        if len(crops) == 0:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0)
        embeddings = F.normalize(encode(self.encoder, crops, self.normalize), dim=1)
        similarity, nearest = (embeddings @ self.prototypes.T).max(dim=1)
        labels = torch.where(similarity >= self.threshold, self.known[nearest], UNKNOWN)
        return labels, similarity


def rejection_rates(
    gts: list[dict[str, np.ndarray]],
    dets: list[dict[str, np.ndarray]],
    withheld: set[int],
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """Over ground-truth boxes found by a detection (best IoU >= ``iou_threshold``): the
    fraction of withheld-class boxes whose detection is ``UNKNOWN`` and of known-class boxes
    whose detection is ``UNKNOWN``."""
    from torchvision.ops import box_iou

    counts = dict.fromkeys(
        ("unknown_found", "unknown_rejected", "known_found", "known_rejected"), 0
    )
    unknown_total = 0
    for gt, det in zip(gts, dets, strict=True):
        is_unknown = np.isin(gt["labels"], list(withheld))
        unknown_total += int(is_unknown.sum())
        if len(gt["boxes"]) == 0 or len(det["boxes"]) == 0:
            continue
        overlap = box_iou(torch.as_tensor(gt["boxes"]), torch.as_tensor(det["boxes"])).numpy()
        found = overlap.max(1) >= iou_threshold
        rejected = det["labels"][overlap.argmax(1)] == UNKNOWN
        for group, mask in (("unknown", is_unknown), ("known", ~is_unknown)):
            counts[f"{group}_found"] += int((found & mask).sum())
            counts[f"{group}_rejected"] += int((found & mask & rejected).sum())
    return {
        "rejection_rate": counts["unknown_rejected"] / max(counts["unknown_found"], 1),
        "false_rejection_rate": counts["known_rejected"] / max(counts["known_found"], 1),
        "unknown_objects": unknown_total,
        **counts,
    }


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Detect, crop, classify with rejection and evaluate on ``--data``'s ``--split``.

    Writes ``predictions.json`` (COCO results, with each box's prototype similarity),
    ``categories.json`` (``unknown`` has the last id), ``metrics.json``, ``metrics.md`` and
    ``config.yaml`` to ``--out``, and ``skipped.txt`` when records of the data were skipped;
    returns the metrics.
    """
    out, progress = config.out, config.progress
    detector, _, detector_config = load_detector(config.detector, "--detector")
    encoder, saved = load_encoder(config.encoder, "--encoder")
    classifier = OpenSetClassifier.from_saved(
        encoder, saved, config.threshold, source=config.encoder
    )
    classes = saved["classes"]
    # classes dropped for too few training crops take no part, as in the encoder's evaluation
    dropped = saved.get("dropped", [])
    withheld_names = [
        name
        for index, name in enumerate(classes)
        if index not in saved["known"] and name not in dropped
    ]
    taught = [name for name in withheld_names if name not in detector_config.get("withhold", [])]
    if taught:
        logger.warning(
            "the detector learnt boxes of %s, which the encoder withholds: the unknown objects "
            "it finds are objects it was taught to find (detect-train --withhold %s trains one "
            "that was not)",
            ", ".join(taught),
            " ".join(taught),
        )
    read = DataSets(progress=progress)
    annotations = read.load(config.data, config.split, image_root=config.images, classes=classes)
    skipped = read.report(out)
    if dropped:
        annotations = drop_classes(annotations, dropped)
    if withheld_names:
        annotations = mark_withheld(annotations, withheld_names)
    detections = predict(detector, annotations, progress=progress)
    gts, dets = _classify_detections(
        annotations, detections, classifier, config.score_threshold, progress
    )
    withheld = set(annotations.class_ids(withheld_names)) if withheld_names else set()
    metrics = open_set_metrics(gts, dets, withheld, classes, annotations.one_based)
    metrics |= {
        "threshold": classifier.threshold,
        "score_threshold": config.score_threshold,
        "skipped": skipped,
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_predictions(annotations, dets, len(classes), out / "predictions.json")
    write_metrics(out, metrics)
    write_text_atomic(out / "metrics.md", pipeline_metrics_markdown(metrics))
    write_config(out, config)
    return metrics


def _classify_detections(
    annotations: Annotations,
    detections: list[dict[str, np.ndarray]],
    classifier: OpenSetClassifier,
    score_threshold: float,
    progress: bool,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    gts, dets = [], []
    pairs = zip(annotations, detections, strict=True)
    for image, found in tqdm(
        pairs, total=len(detections), desc="classifying boxes", disable=not progress, leave=False
    ):
        keep = found["scores"] >= score_threshold
        boxes, scores = found["boxes"][keep], found["scores"][keep]
        crops = crop_boxes(read_rgb(image), boxes, classifier.crop_size, classifier.context)
        labels, similarity = classifier.classify(crops)
        dets.append(
            {
                "boxes": boxes,
                "scores": scores,
                "labels": labels.numpy(),
                "similarity": similarity.numpy(),
            }
        )
        gts.append(
            {
                "boxes": continuous_boxes(image, annotations.one_based),
                "labels": image.labels,
                "difficult": image.difficult | image.iscrowd,
            }
        )
    return gts, dets


def open_set_metrics(
    gts: list[dict[str, np.ndarray]],
    dets: list[dict[str, np.ndarray]],
    withheld: set[int],
    classes: list[str],
    one_based: bool,
) -> dict[str, Any]:
    """VOC07 and COCO AP of the detections labelled with a known class against the known-class
    boxes, and :func:`rejection_rates`; boxes (``gts``, ``dets``) in continuous coordinates of
    data annotated ``one_based`` or not."""
    known_gts = []
    for gt in gts:
        known = ~np.isin(gt["labels"], list(withheld))
        known_gts.append({key: value[known] for key, value in gt.items()})
    labelled = [
        {key: det[key][det["labels"] != UNKNOWN] for key in ("boxes", "scores", "labels")}
        for det in dets
    ]
    # VOC AP counts pixels inclusively: on 1-based data it scores the boxes as annotated and
    # the detections moved onto them, as detect-train's evaluate_detector does
    offset = np.array([1.0, 1.0, 0.0, 0.0]) if one_based else np.zeros(4)
    voc = voc_ap(
        [gt | {"boxes": gt["boxes"] + offset} for gt in known_gts],
        [det | {"boxes": det["boxes"] + offset} for det in labelled],
    )
    return {
        "AP50_voc07": voc["mAP"],
        **coco_ap(known_gts, labelled),
        **rejection_rates(gts, dets, withheld),
        "per_class_AP50_voc07": {classes[label]: ap for label, ap in voc["per_class"].items()},
        "detections": int(sum(len(det["labels"]) for det in dets)),
        "labelled_unknown": int(sum((det["labels"] == UNKNOWN).sum() for det in dets)),
    }


def pipeline_metrics_markdown(metrics: dict[str, Any]) -> str:
    """The pipeline's metrics as a Markdown table."""
    keys = ["AP50_voc07", "AP", "AP50", "rejection_rate", "false_rejection_rate"]
    return (
        "| "
        + " | ".join(keys)
        + " |\n|"
        + "---|" * len(keys)
        + "\n| "
        + " | ".join(f"{metrics[key]:.3f}" for key in keys)
        + " |\n\n"
        + f"{metrics['detections']} detections, {metrics['labelled_unknown']} labelled unknown "
        f"(similarity below {metrics['threshold']:.3f}); {metrics['unknown_found']} of "
        f"{metrics['unknown_objects']} unknown objects found by the detector.\n"
    )


def _write_predictions(
    annotations: Annotations, dets: list[dict[str, np.ndarray]], num_classes: int, path: Path
) -> None:
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(annotations.classes)]
    categories.append({"id": num_classes + 1, "name": "unknown"})
    results = []
    for image, det in zip(annotations, dets, strict=True):
        category_ids = np.where(det["labels"] == UNKNOWN, num_classes, det["labels"]) + 1
        similarity = det["similarity"].tolist()
        results += coco_results(
            image.image_id, det["boxes"], det["scores"], category_ids, similarity=similarity
        )
    write_text_atomic(path, json.dumps(results))
    write_text_atomic(path.with_name("categories.json"), json.dumps(categories))
