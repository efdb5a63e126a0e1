"""Speed of condet's detection metrics against the references they are tested against.

- ``voc_ap`` against a literal, detection-by-detection reading of the VOC devkit (the
  py-faster-rcnn ``voc_eval`` loop, class by class), on 5000 images x 20 classes x 100
  detections (the size of VOC2007 test): time and the largest AP difference;
- ``coco_ap`` (faster-coco-eval) against pycocotools' COCOeval on the same data.

    python benchmarks/eval.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

import numpy as np

from condet.evaluation.coco_metrics import coco_ap, to_coco
from condet.evaluation.detection import voc_ap

# The devkit reference is the one the tests check voc_ap against; import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.evaluation.test_detection import devkit_per_class
from timing import timed


def synthetic_detections(images: int, classes: int, per_image: int, seed: int = 0):
    """VOC-like ground truth (2-3 objects, some difficult) and detections around it."""
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(images):
        count = int(rng.integers(1, 6))
        xy = rng.uniform(0, 400, (count, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 200, (count, 2))], 1)
        labels = rng.integers(0, classes, count)
        gts.append({"boxes": boxes, "labels": labels, "difficult": rng.uniform(size=count) < 0.1})
        near = boxes[rng.integers(0, count, per_image // 2)]
        near = near + rng.normal(0, 15, near.shape)
        far_xy = rng.uniform(0, 400, (per_image - len(near), 2))
        far = np.concatenate([far_xy, far_xy + rng.uniform(20, 200, far_xy.shape)], 1)
        det_boxes = np.concatenate([near, far])
        det_labels = np.where(
            rng.uniform(size=per_image) < 0.5,
            np.concatenate(
                [labels[rng.integers(0, count, len(near))], rng.integers(0, classes, len(far))]
            ),
            rng.integers(0, classes, per_image),
        )
        dets.append(
            {"boxes": det_boxes, "scores": rng.uniform(size=per_image), "labels": det_labels}
        )
    return gts, dets


def pycocotools_ap(gts, dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground_truth, results = to_coco(gts, dets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth
        coco_gt.createIndex()
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats[:6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--detections", type=int, default=100)
    args = parser.parse_args()
    gts, dets = synthetic_detections(args.images, args.classes, args.detections)
    total = sum(len(d["scores"]) for d in dets)
    print(
        f"{args.images} images, {args.classes} classes, {total} detections, "
        f"{sum(len(g['labels']) for g in gts)} ground-truth boxes"
    )

    condet_time, condet = timed(lambda: voc_ap(gts, dets))
    reference_time, reference = timed(lambda: devkit_per_class(gts, dets))
    difference = max(abs(condet["per_class"][c] - ap) for c, ap in reference.items())
    print(f"voc_ap (condet)            {condet_time:8.2f} s   mAP {condet['mAP']:.6f}")
    print(
        f"VOC devkit loop (reference) {reference_time:7.2f} s   mAP "
        f"{np.mean(list(reference.values())):.6f}"
    )
    print(
        f"  condet is {reference_time / condet_time:.0f}x faster (target >= 10x); "
        f"largest per-class AP difference {difference:.1e}"
    )

    fast_time, fast = timed(lambda: coco_ap(gts, dets))
    slow_time, slow = timed(lambda: pycocotools_ap(gts, dets))
    difference = max(abs(a - max(b, 0.0)) for a, b in zip(fast.values(), slow, strict=True))
    print(f"coco_ap (faster-coco-eval) {fast_time:8.2f} s   AP {fast['AP']:.6f}")
    print(f"pycocotools COCOeval       {slow_time:8.2f} s   AP {slow[0]:.6f}")
    print(f"  coco_ap is {slow_time / fast_time:.1f}x faster; largest difference {difference:.1e}")


if __name__ == "__main__":
    main()
