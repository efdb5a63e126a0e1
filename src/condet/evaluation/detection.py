"""Detection metrics: VOC AP (the official devkit's rules), COCO AP, localization accuracy
and CorLoc.

Boxes are ``xyxy`` float pixel coordinates, one dict per image::

    gts[i]  = {"boxes": [M, 4], "labels": [M], "difficult": [M] bool (optional),
               "iscrowd": [M] bool (optional)}
    dets[i] = {"boxes": [K, 4], "scores": [K], "labels": [K]}

Values may be numpy arrays, tensors or lists.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

Boxes = dict[str, Any]


def _array(value: Any, dtype: Any, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value if value is not None else [], dtype=dtype)
    return array.reshape(-1, *shape_tail)


def _ground_truth(gt: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = _array(gt["boxes"], np.float64, (4,))
    labels = _array(gt["labels"], np.int64)
    difficult = _array(gt.get("difficult"), bool) if gt.get("difficult") is not None else None
    if difficult is None or len(difficult) == 0:
        difficult = np.zeros(len(boxes), bool)
    if len(labels) != len(boxes) or len(difficult) != len(boxes):
        raise ValueError("every ground-truth box needs a label (and difficult flag)")
    return boxes, labels, difficult


def _detections(det: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = _array(det["boxes"], np.float64, (4,))
    scores = _array(det["scores"], np.float64)
    labels = _array(det["labels"], np.int64)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError("every detection needs a box, a score and a label")
    return boxes, scores, labels


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


def _best_ground_truth(
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
        [_ground_truth(gt) for gt in gts], (np.int64, bool)
    )
    boxes, scores_all, labels_all, det_counts = _concatenate(
        [_detections(det) for det in dets], (np.float64, np.int64)
    )
    if len(labels_all) == 0 and len(gt_labels) == 0:
        return {}
    classes, counts = np.unique(gt_labels[~difficult], return_counts=True)
    positives = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    keys_all, status_all = _best_ground_truth(
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


def to_coco(gts: Sequence[Boxes], dets: Sequence[Boxes]) -> tuple[dict, list[dict]]:
    """COCO ground truth and results for :func:`coco_ap`.

    Boxes are taken as continuous coordinates (COCO's convention: ``w = x2 - x1``). VOC
    ``difficult`` boxes become crowd regions (``iscrowd = 1``), which COCOeval treats as the
    devkit treats difficult boxes: detections on them count neither way, and they are not
    positives.
    """
    images, annotations, results, categories = [], [], [], set()
    for image_id, (gt, det) in enumerate(zip(gts, dets, strict=True), start=1):
        boxes, labels, difficult = _ground_truth(gt)
        crowd = _array(gt.get("iscrowd"), bool) if gt.get("iscrowd") is not None else None
        crowd = difficult | (crowd if crowd is not None and len(crowd) else False)
        width = max([1.0, *boxes[:, 2].tolist()])
        height = max([1.0, *boxes[:, 3].tolist()])
        images.append({"id": image_id, "width": width, "height": height})
        for box, label, is_crowd in zip(
            boxes, labels, np.broadcast_to(crowd, labels.shape), strict=True
        ):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [box[0], box[1], w, h],
                    "area": float(w * h),
                    "iscrowd": int(is_crowd),
                }
            )
            categories.add(int(label))
        det_boxes, scores, det_labels = _detections(det)
        for box, score, label in zip(det_boxes, scores, det_labels, strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": float(score),
                }
            )
            categories.add(int(label))
    ground_truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": str(c)} for c in sorted(categories)],
    }
    return ground_truth, results


COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def coco_ap(gts: Sequence[Boxes], dets: Sequence[Boxes]) -> dict[str, float]:
    """COCO AP, AP50, AP75 and AP by size, by faster-coco-eval (pycocotools without it).

    See :func:`to_coco` for the conversion. As in pycocotools, an AP over a size range that
    holds no (non-crowd) ground-truth box is ``-1`` (e.g. ``APs`` on a set without small
    objects, or every AP with no ground truth at all); with no detections the others are 0.
    """
    ground_truth, results = to_coco(gts, dets)
    try:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    except ImportError:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # pycocotools' loadRes reads the first result, so no results get an empty set
            coco_dt = COCO()
            coco_dt.dataset = {**ground_truth, "annotations": []}
            coco_dt.createIndex()
        evaluation = COCOeval(coco_gt, coco_dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [float(value) for value in evaluation.stats[:6]]
    return dict(zip(COCO_KEYS, stats, strict=True))


CORLOC_IOU = 0.5  # CorLoc's hit criterion, as in Deselaers et al. (2012)


def _greedy_matches(
    overlap: np.ndarray, scores: np.ndarray, difficult: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's one-to-one matching of detections to ground-truth boxes, greedily by score.

    Args:
        overlap: ``[K, M]`` IoU of each detection with each ground-truth box, 0 where they may
            not match (another class).
        scores: ``[K]`` detection scores.
        difficult: ``[M]`` bool, difficult ground-truth boxes.

    Detections in descending score (ties in their given order) each take the still-unmatched
    box with the highest IoU (ties: the first box), if that IoU is above 0. Difficult boxes are
    never used up and a detection that takes one is ignored, as the VOC devkit ignores them.

    Returns:
        ``gt_iou [M]``, each box's match's IoU (0 unmatched or difficult); ``det_iou [K]``, each
        detection's match's IoU (0 unmatched); ``ignored [K]`` bool, detections on difficult
        boxes.
    """
    gt_iou = np.zeros(overlap.shape[1])
    det_iou = np.zeros(overlap.shape[0])
    ignored = np.zeros(overlap.shape[0], bool)
    if not overlap.size:
        return gt_iou, det_iou, ignored
    available = np.ones(overlap.shape[1], bool)
    for detection in np.argsort(-scores, kind="stable"):
        candidates = np.where(available, overlap[detection], 0.0)
        best = int(candidates.argmax())
        if candidates[best] <= 0.0:
            continue
        if difficult[best]:
            ignored[detection] = True
            continue
        available[best] = False
        gt_iou[best] = det_iou[detection] = candidates[best]
    return gt_iou, det_iou, ignored


def _top_box_hits(
    overlap: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    gt_labels: np.ndarray,
    difficult: np.ndarray,
    class_aware: bool,
) -> list[bool]:
    """CorLoc's hits in one image: for each class among its non-difficult boxes, whether the
    top-scoring detection of that class (the first of tied ones) has IoU >= :data:`CORLOC_IOU`
    with some box of the class, difficult ones included.

    ``overlap`` is ``[K, M]`` raw IoU; without ``class_aware`` all boxes are of one class.
    """
    if not class_aware:
        labels, gt_labels = np.zeros_like(labels), np.zeros_like(gt_labels)
    hits = []
    for label in np.unique(gt_labels[~difficult]):
        of_class = np.flatnonzero(labels == label)
        if not len(of_class):
            hits.append(False)
            continue
        top = of_class[scores[of_class].argmax()]
        hits.append(bool((overlap[top, gt_labels == label] >= CORLOC_IOU).any()))
    return hits


def localization_metrics(
    gts: Sequence[Boxes],
    dets: Sequence[Boxes],
    thresholds: Sequence[float] = (0.5, 0.7),
    class_aware: bool = True,
    score_threshold: float = 0.5,
) -> dict[str, float]:
    """How well objects are localised, with one-to-one matching so that spraying boxes does
    not pay.

    Confident detections (``score >= score_threshold``) are matched to ground-truth boxes one
    to one, in each image, greedily by descending score as AP matches: each takes the
    still-unmatched box of its class (any class without ``class_aware``) with the highest IoU,
    if that IoU is above 0 (see :func:`_greedy_matches`). There is no minimum IoU beyond that:
    a match at IoU 0.01 adds 0.01 to ``mean_iou`` and uses the box up, so a later, lower-scoring
    box on the same object is unmatched. IoU is continuous (COCO's, ``torchvision.ops.box_iou``),
    not the devkit's +1 convention. Pooled over all images:

    - ``mean_iou``: mean over non-difficult ground-truth boxes of their match's IoU, 0 when
      unmatched.
    - ``loc_acc@t``: fraction of non-difficult ground-truth boxes matched at IoU >= ``t``.
    - ``det_loc_acc@t``: fraction of confident detections matched at IoU >= ``t``; unmatched
      ones (duplicates, boxes on nothing) count against it. A detection whose best available
      box is difficult counts neither way, as in the VOC devkit.
    - ``corloc@0.5``: over (image, class among its non-difficult boxes) pairs, the fraction
      whose top-scoring detection of the class, at any score (CorLoc's rule: the best guess,
      however unsure), has IoU >= 0.5 with some box of the class; a difficult box is an object
      of the class, so it counts as a hit. No detection of the class is a miss.

    Difficult boxes are never positives. A fraction over nothing (no ground truth, no confident
    detection) is 0.0, not NaN, so that metrics stay valid JSON and means over runs finite.

    Args:
        gts: per image ``{"boxes": [M, 4], "labels": [M], "difficult": [M] (optional)}``.
        dets: per image ``{"boxes": [K, 4], "scores": [K], "labels": [K]}``.
        thresholds: the IoU ``t`` of ``loc_acc@t`` and ``det_loc_acc@t``.
        class_aware: match (and CorLoc) only within a class.
        score_threshold: detections scoring at least this are matched.

    Returns:
        ``{"mean_iou", "loc_acc@t"..., "det_loc_acc@t"..., "corloc@0.5"}``, floats.
    """
    gt_ious, det_ious, hits = [], [], []
    for gt, det in zip(gts, dets, strict=True):
        gt_boxes, gt_labels, difficult = _ground_truth(gt)
        boxes, scores, labels = _detections(det)
        overlap = box_iou(torch.from_numpy(boxes), torch.from_numpy(gt_boxes)).numpy()
        overlap = np.nan_to_num(overlap, nan=0.0)  # two empty boxes: 0 / 0, no overlap
        hits += _top_box_hits(overlap, scores, labels, gt_labels, difficult, class_aware)
        confident = scores >= score_threshold
        allowed = overlap[confident]
        if class_aware:
            allowed = np.where(labels[confident, None] == gt_labels[None, :], allowed, 0.0)
        gt_iou, det_iou, ignored = _greedy_matches(allowed, scores[confident], difficult)
        gt_ious.append(gt_iou[~difficult])
        det_ious.append(det_iou[~ignored])
    gt_iou = np.concatenate([np.zeros(0), *gt_ious])
    det_iou = np.concatenate([np.zeros(0), *det_ious])

    def fraction(flags: np.ndarray | list[bool]) -> float:
        return float(np.mean(flags)) if len(flags) else 0.0

    result = {"mean_iou": float(gt_iou.mean()) if len(gt_iou) else 0.0}
    result |= {f"loc_acc@{t:g}": fraction(gt_iou >= t) for t in thresholds}
    result |= {f"det_loc_acc@{t:g}": fraction(det_iou >= t) for t in thresholds}
    result[f"corloc@{CORLOC_IOU:g}"] = fraction(hits)
    return result


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
