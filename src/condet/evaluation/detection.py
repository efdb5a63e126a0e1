"""VOC AP of detections (the official devkit's rules), per-class tables and PR curves.

COCO AP is in :mod:`condet.evaluation.coco_metrics`, localization and CorLoc in
:mod:`condet.evaluation.localization`.

Boxes are ``xyxy`` float pixel coordinates, one dict per image::

    gts[i]  = {"boxes": [M, 4], "labels": [M], "difficult": [M] bool (optional),
               "iscrowd": [M] bool (optional)}
    dets[i] = {"boxes": [K, 4], "scores": [K], "labels": [K]}

Values may be numpy arrays, tensors or lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from condet.evaluation.boxes import Boxes, detection_arrays, ground_truth_arrays


def voc_average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    """The devkit's AP: 11-point interpolated (VOC2007) or the area under the monotone PR curve."""
    if use_07_metric:
        points = [
            precision[recall >= t].max() if (recall >= t).any() else 0.0
            for t in np.arange(0.0, 1.1, 0.1)
        ]
        return float(np.mean(points))
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))


def _concatenate(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], dtypes: tuple[Any, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-image ``(boxes, a, b)`` joined over all images, and each image's box count."""
    counts = np.array([len(part[0]) for part in parts], np.int64)
    boxes = np.concatenate([np.zeros((0, 4)), *(part[0] for part in parts)])
    first = np.concatenate([np.zeros(0, dtypes[0]), *(part[1] for part in parts)])
    second = np.concatenate([np.zeros(0, dtypes[1]), *(part[2] for part in parts)])
    return boxes, first, second, counts


PAIRS_PER_CHUNK = 1 << 22  # about 1 GB of temporaries at most


def _bestground_truth_arrays(
    boxes: np.ndarray,
    labels: np.ndarray,
    det_counts: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    difficult: np.ndarray,
    gt_counts: np.ndarray,
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For every detection: the index of its best-overlapping ground-truth box of its class in
    its image, and 1 (candidate true positive), 0 (false positive) or -1 (on a difficult box).

    All images at once: each detection is compared with its image's boxes, padded to the
    largest image's count, :data:`PAIRS_PER_CHUNK` detection-box pairs at a time.
    """
    image = np.repeat(np.arange(len(det_counts)), det_counts)
    gt_start = np.concatenate([[0], np.cumsum(gt_counts)[:-1]]).astype(np.int64)
    width = int(gt_counts.max(initial=0))
    best = np.zeros(len(boxes), np.int64)
    best_overlap = np.full(len(boxes), -1.0)
    if width and len(boxes):
        columns = np.arange(width)
        step = max(1, PAIRS_PER_CHUNK // width)
        for begin in range(0, len(boxes), step):
            rows = slice(begin, begin + step)
            start, count = gt_start[image[rows]], gt_counts[image[rows]]
            valid = columns[None, :] < count[:, None]
            index = np.where(valid, start[:, None] + columns[None, :], 0)
            overlap = _paired_voc_iou(boxes[rows], gt_boxes[index])
            overlap[~valid | (gt_labels[index] != labels[rows, None])] = -1.0
            column = overlap.argmax(1)
            best[rows] = start + column
            best_overlap[rows] = overlap[np.arange(len(column)), column]
    hit = best_overlap > iou_threshold
    hit_difficult = np.zeros_like(hit)
    hit_difficult[hit] = difficult[best[hit]]
    return best, np.where(hit_difficult, -1, np.where(hit, 1, 0))


def _paired_voc_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The devkit's IoU of ``boxes [D, 4]`` with their own ``others [D, W, 4]``: ``[D, W]``.

    The devkit counts pixels inclusively, so widths and heights are ``x2 - x1 + 1`` and
    ``y2 - y1 + 1``: not ``torchvision.ops.box_iou`` (continuous coordinates, used for COCO AP
    and :func:`localization_metrics`), whose values differ and would change which detections
    clear the threshold. Paired rather than all-pairs because each detection is compared only
    with the boxes of its own image (see :func:`_best_ground_truth`).
    """
    boxes = boxes[:, None, :]
    ix1 = np.maximum(boxes[..., 0], others[..., 0])
    iy1 = np.maximum(boxes[..., 1], others[..., 1])
    ix2 = np.minimum(boxes[..., 2], others[..., 2])
    iy2 = np.minimum(boxes[..., 3], others[..., 3])
    intersection = np.clip(ix2 - ix1 + 1, 0, None) * np.clip(iy2 - iy1 + 1, 0, None)
    area = (boxes[..., 2] - boxes[..., 0] + 1) * (boxes[..., 3] - boxes[..., 1] + 1)
    other_area = (others[..., 2] - others[..., 0] + 1) * (others[..., 3] - others[..., 1] + 1)
    return intersection / (area + other_area - intersection)


def voc_matches(
    gts: Sequence[Boxes], dets: Sequence[Boxes], iou_threshold: float = 0.5
) -> dict[int, dict[str, np.ndarray | int]]:
    """Per class: detection scores and TP / FP flags in the devkit's order, and positives.

    The devkit's procedure, vectorised: detections of a class in descending score (ties keep
    their order, as MATLAB's stable sort does); each takes its best-overlapping ground-truth
    box of the class; above the threshold (strictly) it is a true positive if that box is not
    difficult and not yet taken, ignored if it is difficult, a false positive otherwise.
    """
    if len(gts) != len(dets):
        raise ValueError(f"{len(gts)} ground-truth images but {len(dets)} detection images")
    gt_boxes, gt_labels, difficult, gt_counts = _concatenate(
        [ground_truth_arrays(gt) for gt in gts], (np.int64, bool)
    )
    boxes, scores_all, labels_all, det_counts = _concatenate(
        [detection_arrays(det) for det in dets], (np.float64, np.int64)
    )
    if len(labels_all) == 0 and len(gt_labels) == 0:
        return {}
    classes, counts = np.unique(gt_labels[~difficult], return_counts=True)
    positives = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    keys_all, status_all = _bestground_truth_arrays(
        boxes, labels_all, det_counts, gt_boxes, gt_labels, difficult, gt_counts, iou_threshold
    )
    order = np.lexsort((-scores_all, labels_all))  # by class, then score; stable for ties
    labels_all, scores_all = labels_all[order], scores_all[order]
    keys_all, status_all = keys_all[order], status_all[order]
    result: dict[int, dict[str, np.ndarray | int]] = {}
    for label in sorted(set(positives) | set(np.unique(labels_all).tolist())):
        chosen = labels_all == label
        class_status, class_keys = status_all[chosen], keys_all[chosen]
        kept = class_status >= 0
        true_positive = np.zeros(int(kept.sum()), bool)
        candidates = np.flatnonzero(class_status[kept] == 1)
        _, first = np.unique(class_keys[kept][candidates], return_index=True)
        true_positive[candidates[first]] = True
        result[int(label)] = {
            "scores": scores_all[chosen][kept],
            "true_positive": true_positive,
            "positives": positives.get(int(label), 0),
        }
    return result


def voc_ap(
    gts: Sequence[Boxes],
    dets: Sequence[Boxes],
    iou_threshold: float = 0.5,
    use_07_metric: bool = True,
) -> dict[str, Any]:
    """Pascal VOC mean AP under the official devkit's rules (see :func:`voc_matches`).

    Returns ``{"mAP": float, "per_class": {label: ap}}``; a class with no (non-difficult)
    positives is left out.

    >>> gts = [{"boxes": [[0, 0, 9, 9]], "labels": [1]}]
    >>> voc_ap(gts, [{"boxes": [[0, 0, 9, 9]], "scores": [0.9], "labels": [1]}])["mAP"]
    1.0
    """
    per_class = {}
    for label, match in voc_matches(gts, dets, iou_threshold).items():
        if match["positives"] == 0:
            continue
        true_positive = match["true_positive"]
        tp = np.cumsum(true_positive)
        fp = np.cumsum(~true_positive)
        recall = tp / match["positives"]
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        per_class[label] = voc_average_precision(recall, precision, use_07_metric)
    mean = float(np.mean(list(per_class.values()))) if per_class else 0.0
    return {"mAP": mean, "per_class": per_class}


def per_class_table(per_class: Mapping[int, float], classes: Sequence[str]) -> str:
    """Markdown table of per-class AP."""
    lines = ["| class | AP |", "|---|---|"]
    lines += [f"| {classes[label]} | {ap:.3f} |" for label, ap in sorted(per_class.items())]
    return "\n".join(lines) + "\n"


def plot_pr_curves(
    gts: Sequence[Boxes],
    dets: Sequence[Boxes],
    classes: Sequence[str],
    path: Path,
    iou_threshold: float = 0.5,
) -> Path:
    """Precision-recall curve of every class (devkit matching) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 6), dpi=110)
    colours = plt.get_cmap("tab20")
    for label, match in voc_matches(gts, dets, iou_threshold).items():
        if match["positives"] == 0 or label >= len(classes):
            continue
        tp = np.cumsum(match["true_positive"])
        fp = np.cumsum(~match["true_positive"])
        recall = np.concatenate([[0.0], tp / match["positives"]])
        precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
        axes.plot(recall, precision, color=colours(label % 20), label=classes[label])
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_title(f"precision-recall (IoU > {iou_threshold:g})")
    axes.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
