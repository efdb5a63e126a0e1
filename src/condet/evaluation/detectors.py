"""Evaluating a detector on a test split: its detections, then VOC and COCO AP and localization.

:func:`predict` runs the detector over every image; :func:`evaluate_detector` scores the
detections (VOC AP50, COCO AP/AP50/AP75, mean IoU and localization accuracy, PR curves) with
the metrics of :mod:`condet.evaluation.detection`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, continuous_boxes, detection_collate
from condet.data.detection_transforms import detection_transforms
from condet.evaluation.coco_metrics import coco_ap
from condet.evaluation.detection import per_class_table, plot_pr_curves, voc_ap
from condet.evaluation.localization import localization_metrics


@torch.inference_mode()
def predict(
    model: torch.nn.Module, annotations: Annotations, batch_size: int = 4, progress: bool = True
) -> list[dict[str, np.ndarray]]:
    """The model's detections on every image of ``annotations`` (continuous coordinates)."""
    was_training = model.training
    model.eval()
    dataset = DetectionDataset(annotations, detection_transforms(train=False))
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=detection_collate)
    device = next(model.parameters()).device
    detections = []
    for images, _ in tqdm(
        loader, desc="detecting", unit="batch", disable=not progress, leave=False
    ):
        for output in model([image.to(device) for image in images]):
            detections.append({key: value.cpu().numpy() for key, value in output.items()})
    model.train(was_training)
    return detections


def evaluate_detector(
    model: torch.nn.Module,
    test: Annotations,
    score_threshold: float = 0.05,
    class_agnostic: bool = False,
    progress: bool = True,
    pr_curves: Path | None = None,
    localization_threshold: float = 0.5,
) -> dict[str, Any]:
    """VOC AP50 (11-point and all-point), COCO AP/AP50/AP75, mean IoU, localization accuracy.

    VOC AP compares with the boxes as annotated (VOC's 1-based pixels), detections moved back
    to that convention as detectron2 does; COCO AP and localization use continuous coordinates.
    Crowd boxes count as difficult. With ``class_agnostic`` every box is of class "object".
    Detections below ``score_threshold`` are dropped; of the rest, those scoring at least
    ``localization_threshold`` are matched for mean IoU and localization accuracy (see
    :func:`~condet.evaluation.localization.localization_metrics`).
    """
    detections = predict(model, test, progress=progress)
    offset = 1.0 if test.one_based else 0.0
    voc_gts, continuous_gts, voc_dets, continuous_dets = [], [], [], []
    for image, found in zip(test, detections, strict=True):
        keep = found["scores"] >= score_threshold
        labels = found["labels"][keep] - 1  # torchvision's 0 is the background
        gt_labels = np.zeros_like(image.labels) if class_agnostic else image.labels
        ignored = image.difficult | image.iscrowd
        voc_gts.append({"boxes": image.boxes, "labels": gt_labels, "difficult": ignored})
        continuous_gts.append(
            {
                "boxes": continuous_boxes(image, test.one_based),
                "labels": gt_labels,
                "difficult": ignored,
            }
        )
        boxes = found["boxes"][keep]
        continuous_dets.append({"boxes": boxes, "scores": found["scores"][keep], "labels": labels})
        voc_dets.append(
            {
                "boxes": boxes + np.array([offset, offset, 0.0, 0.0]),
                "scores": found["scores"][keep],
                "labels": labels,
            }
        )
    voc07 = voc_ap(voc_gts, voc_dets, use_07_metric=True)
    metrics: dict[str, Any] = {
        "AP50_voc07": voc07["mAP"],
        "AP50_voc_all_point": voc_ap(voc_gts, voc_dets, use_07_metric=False)["mAP"],
        **coco_ap(continuous_gts, continuous_dets),
        **localization_metrics(
            continuous_gts,
            continuous_dets,
            class_aware=True,
            score_threshold=localization_threshold,
        ),
        "per_class_AP50_voc07": {
            ("object" if class_agnostic else test.classes[label]): ap
            for label, ap in voc07["per_class"].items()
        },
        "test_images": len(test),
        "test_objects": test.num_objects,
    }
    if pr_curves is not None:
        classes = ["object"] if class_agnostic else test.classes
        plot_pr_curves(voc_gts, voc_dets, classes, pr_curves)
    return metrics


def detector_metrics_markdown(metrics: dict[str, Any]) -> str:
    """:func:`evaluate_detector`'s headline metrics as a Markdown table, then per-class AP50."""
    keys = [
        "AP50_voc07",
        "AP50_voc_all_point",
        "AP",
        "AP50",
        "AP75",
        "mean_iou",
        "loc_acc@0.5",
        "loc_acc@0.7",
        "det_loc_acc@0.5",
        "corloc@0.5",
    ]
    # -1 is COCO's "no objects of this size", not a score
    cells = ["–" if metrics[key] == -1 else f"{metrics[key]:.3f}" for key in keys]
    lines = [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(cells) + " |",
        "",
    ]
    per_class = metrics["per_class_AP50_voc07"]
    table = per_class_table(dict(enumerate(per_class.values())), list(per_class))
    return "\n".join(lines) + table
