"""COCO AP of detections, by faster-coco-eval (pycocotools without it).

Boxes as in :mod:`condet.evaluation.boxes`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from condet.evaluation.boxes import Boxes, as_array, detection_arrays, ground_truth_arrays


def to_coco(gts: Sequence[Boxes], dets: Sequence[Boxes]) -> tuple[dict, list[dict]]:
    """COCO ground truth and results for :func:`coco_ap`.

    Boxes are taken as continuous coordinates (COCO's convention: ``w = x2 - x1``). VOC
    ``difficult`` boxes become crowd regions (``iscrowd = 1``), which COCOeval treats as the
    devkit treats difficult boxes: detections on them count neither way, and they are not
    positives.
    """
    images, annotations, results, categories = [], [], [], set()
    for image_id, (gt, det) in enumerate(zip(gts, dets, strict=True), start=1):
        boxes, labels, difficult = ground_truth_arrays(gt)
        crowd = as_array(gt.get("iscrowd"), bool) if gt.get("iscrowd") is not None else None
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
        det_boxes, scores, det_labels = detection_arrays(det)
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
