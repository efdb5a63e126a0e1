"""Localization of detections: one-to-one matches of confident detections to ground truth
(per ground truth and per detection) and CorLoc.

Boxes as in :mod:`condet.evaluation.boxes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from condet.evaluation.boxes import Boxes, detection_arrays, ground_truth_arrays

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
        gt_boxes, gt_labels, difficult = ground_truth_arrays(gt)
        boxes, scores, labels = detection_arrays(det)
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
