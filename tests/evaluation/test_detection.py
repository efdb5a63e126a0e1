from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from condet.evaluation.coco_metrics import coco_ap, to_coco
from condet.evaluation.detection import voc_ap
from condet.evaluation.localization import localization_metrics


def devkit_voc_eval(gts, dets, label, iou_threshold=0.5, use_07_metric=True):
    """A literal reading of the VOC devkit's evaluation for one class (py-faster-rcnn's
    voc_eval.py, itself a port of VOCevaldet.m), with MATLAB's stable sort for ties."""
    class_recs, npos = {}, 0
    for image, gt in enumerate(gts):
        keep = [i for i, lab in enumerate(gt["labels"]) if lab == label]
        boxes = np.array([gt["boxes"][i] for i in keep], dtype=float).reshape(-1, 4)
        difficult = np.array(
            [bool(gt.get("difficult", [False] * len(gt["labels"]))[i]) for i in keep], dtype=bool
        )
        npos += int((~difficult).sum())
        class_recs[image] = {"bbox": boxes, "difficult": difficult, "det": [False] * len(keep)}
    image_ids, confidence, boxes = [], [], []
    for image, det in enumerate(dets):
        for box, score, lab in zip(det["boxes"], det["scores"], det["labels"], strict=True):
            if lab == label:
                image_ids.append(image)
                confidence.append(score)
                boxes.append(box)
    if npos == 0:
        return None
    order = np.argsort(-np.array(confidence), kind="stable")
    boxes = np.array(boxes, dtype=float).reshape(-1, 4)[order]
    image_ids = [image_ids[i] for i in order]
    tp, fp = np.zeros(len(image_ids)), np.zeros(len(image_ids))
    for d in range(len(image_ids)):
        record = class_recs[image_ids[d]]
        bb = boxes[d]
        ovmax = -np.inf
        bbgt = record["bbox"]
        if bbgt.size > 0:
            ixmin = np.maximum(bbgt[:, 0], bb[0])
            iymin = np.maximum(bbgt[:, 1], bb[1])
            ixmax = np.minimum(bbgt[:, 2], bb[2])
            iymax = np.minimum(bbgt[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = (
                (bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0)
                + (bbgt[:, 2] - bbgt[:, 0] + 1.0) * (bbgt[:, 3] - bbgt[:, 1] + 1.0)
                - inters
            )
            overlaps = inters / uni
            ovmax = np.max(overlaps)
            jmax = np.argmax(overlaps)
        if ovmax > iou_threshold:
            if not record["difficult"][jmax]:
                if not record["det"][jmax]:
                    tp[d] = 1.0
                    record["det"][jmax] = True
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def devkit_per_class(gts, dets, **kwargs):
    labels = sorted(
        {int(label) for g in gts for label in g["labels"]}
        | {int(label) for d in dets for label in d["labels"]}
    )
    result = {}
    for label in labels:
        ap = devkit_voc_eval(gts, dets, label, **kwargs)
        if ap is not None:
            result[label] = ap
    return result


def assert_matches_devkit(gts, dets, **kwargs):
    expected = devkit_per_class(gts, dets, **kwargs)
    result = voc_ap(gts, dets, **kwargs)
    assert result["per_class"].keys() == expected.keys()
    for label, ap in expected.items():
        assert result["per_class"][label] == pytest.approx(ap, abs=1e-12)
    if expected:
        assert result["mAP"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)


GT = {
    "boxes": [[10, 10, 50, 50], [60, 60, 100, 100], [5, 60, 40, 90]],
    "labels": [1, 1, 2],
    "difficult": [False, True, False],
}

HAND_MADE = {
    "perfect": ([GT], [{"boxes": GT["boxes"], "scores": [0.9, 0.8, 0.7], "labels": [1, 1, 2]}]),
    "duplicates are false positives": (
        [GT],
        [
            {
                "boxes": [[10, 10, 50, 50], [11, 11, 50, 50], [5, 60, 40, 90]],
                "scores": [0.9, 0.95, 0.5],
                "labels": [1, 1, 2],
            }
        ],
    ),
    "a hit on a difficult box counts neither way": (
        [GT],
        [
            {
                "boxes": [[60, 60, 100, 100], [10, 10, 50, 50]],
                "scores": [0.99, 0.1],
                "labels": [1, 1],
            }
        ],
    ),
    "ties keep their order": (
        [GT, GT],
        [
            {
                "boxes": [[10, 10, 50, 50], [200, 200, 220, 220]],
                "scores": [0.5, 0.5],
                "labels": [1, 1],
            },
            {
                "boxes": [[200, 200, 220, 220], [10, 10, 50, 50]],
                "scores": [0.5, 0.5],
                "labels": [1, 1],
            },
        ],
    ),
    "strictly above the threshold": (
        # IoU exactly 0.5 with the +1 convention: 1681 * 2 = 3362 = union
        [{"boxes": [[0, 0, 40, 40]], "labels": [3]}],
        [{"boxes": [[0, 0, 40, 81]], "scores": [0.9], "labels": [3]}],
    ),
    "classes without detections and images without boxes": (
        [GT, {"boxes": [], "labels": []}],
        [
            {"boxes": [[10, 10, 50, 50]], "scores": [0.9], "labels": [1]},
            {"boxes": [[1, 1, 30, 30]], "scores": [0.8], "labels": [2]},
        ],
    ),
    "detections of a class with no positives are left out": (
        [GT],
        [{"boxes": [[10, 10, 50, 50]], "scores": [0.9], "labels": [7]}],
    ),
    "no detections at all": ([GT], [{"boxes": [], "scores": [], "labels": []}]),
}


class TestVocAp:
    @pytest.mark.parametrize("use_07_metric", [True, False])
    @pytest.mark.parametrize("case", list(HAND_MADE))
    def test_hand_made_cases_match_the_devkit(self, case, use_07_metric):
        gts, dets = HAND_MADE[case]
        assert_matches_devkit(gts, dets, use_07_metric=use_07_metric)

    def test_known_values(self):
        gts, dets = HAND_MADE["perfect"]
        assert voc_ap(gts, dets) == {"mAP": 1.0, "per_class": {1: 1.0, 2: 1.0}}
        gts, dets = HAND_MADE["strictly above the threshold"]
        assert voc_ap(gts, dets)["mAP"] == 0.0
        assert voc_ap(gts, dets, iou_threshold=0.49)["mAP"] == 1.0
        gts, dets = HAND_MADE["detections of a class with no positives are left out"]
        assert 7 not in voc_ap(gts, dets)["per_class"]

    @pytest.mark.parametrize("seed", range(5))
    @pytest.mark.parametrize("use_07_metric", [True, False])
    def test_random_detections_match_the_devkit(self, seed, use_07_metric):
        rng = np.random.default_rng(seed)
        gts, dets = [], []
        for _ in range(25):
            count = rng.integers(0, 6)
            xy = rng.uniform(0, 200, (count, 2))
            boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (count, 2))], 1)
            gts.append(
                {
                    "boxes": boxes,
                    "labels": rng.integers(0, 4, count),
                    "difficult": rng.uniform(size=count) < 0.2,
                }
            )
            jittered = (
                boxes[rng.integers(0, max(count, 1), rng.integers(0, 10))]
                if count
                else np.zeros((0, 4))
            )
            jittered = jittered + rng.normal(0, 6, jittered.shape)
            noise_xy = rng.uniform(0, 200, (4, 2))
            noise = np.concatenate([noise_xy, noise_xy + rng.uniform(5, 80, (4, 2))], 1)
            all_boxes = np.concatenate([jittered, noise])
            scores = np.round(rng.uniform(size=len(all_boxes)), 1)  # rounding makes ties
            dets.append(
                {"boxes": all_boxes, "scores": scores, "labels": rng.integers(0, 4, len(all_boxes))}
            )
        assert_matches_devkit(gts, dets, use_07_metric=use_07_metric)

    @pytest.mark.parametrize("pairs_per_chunk", [7, 1 << 22])
    @pytest.mark.shared_data
    def test_random_detections_over_real_bccd_ground_truth(
        self, shared_data, monkeypatch, pairs_per_chunk
    ):
        from condet.evaluation import detection

        monkeypatch.setattr(detection, "PAIRS_PER_CHUNK", pairs_per_chunk)
        from condet.data import load_voc

        bccd = load_voc(shared_data / "bccd" / "BCCD", "test", skip_invalid=True)
        rng = np.random.default_rng(0)
        gts, dets = [], []
        for image in bccd:
            gts.append({"boxes": image.boxes, "labels": image.labels, "difficult": image.difficult})
            chosen = image.boxes[rng.integers(0, len(image), len(image))]
            boxes = chosen + rng.normal(0, 8, chosen.shape)
            dets.append(
                {
                    "boxes": boxes,
                    "scores": rng.uniform(size=len(boxes)),
                    "labels": np.where(
                        rng.uniform(size=len(boxes)) < 0.8,
                        image.labels[: len(boxes)],
                        rng.integers(0, 3, len(boxes)),
                    ),
                }
            )
        assert_matches_devkit(gts, dets)
        assert 0 < voc_ap(gts, dets)["mAP"] < 1

    def test_overlap_counts_pixels_inclusively_unlike_box_iou(self):
        # devkit: (2 * 3) / (3 * 3) = 0.67 > 0.5; continuous (box_iou): (1 * 2) / (2 * 2) = 0.5
        gts = [{"boxes": [[0.0, 0.0, 2.0, 2.0]], "labels": [1]}]
        dets = [{"boxes": [[0.0, 0.0, 1.0, 2.0]], "scores": [0.9], "labels": [1]}]
        assert float(box_iou(torch.tensor(dets[0]["boxes"]), torch.tensor(gts[0]["boxes"]))) == 0.5
        assert voc_ap(gts, dets)["mAP"] == 1.0
        assert_matches_devkit(gts, dets)

    def test_image_count_mismatch(self):
        with pytest.raises(ValueError, match="2 ground-truth images but 1 detection images"):
            voc_ap([GT, GT], [{"boxes": [], "scores": [], "labels": []}])


def pycocotools_stats(gts, dets):
    """pycocotools' COCOeval summary on :func:`to_coco`'s conversion; no results become an
    empty result set (``loadRes`` cannot read an empty list)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground_truth, results = to_coco(gts, dets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:
            coco_dt = COCO()
            coco_dt.dataset = {**ground_truth, "annotations": []}
            coco_dt.createIndex()
        evaluation = COCOeval(coco_gt, coco_dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(value) for value in evaluation.stats[:6]]


def random_boxes(rng, count, low, high, extent=300.0):
    xy = rng.uniform(0, extent, (count, 2))
    return np.concatenate([xy, xy + rng.uniform(low, high, (count, 2))], 1)


def assert_matches_pycocotools(gts, dets):
    result = coco_ap(gts, dets)
    assert list(result) == ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    assert list(result.values()) == pytest.approx(pycocotools_stats(gts, dets), abs=1e-9)
    return result


class TestCocoAp:
    @pytest.mark.parametrize("seed", range(3))
    def test_matches_pycocotools(self, seed):
        rng = np.random.default_rng(seed)
        gts, dets = [], []
        for _ in range(20):
            count = rng.integers(1, 8)
            boxes = random_boxes(rng, count, 4, 150)
            gts.append(
                {
                    "boxes": boxes,
                    "labels": rng.integers(1, 4, count),
                    "iscrowd": rng.uniform(size=count) < 0.1,
                }
            )
            det_boxes = boxes + rng.normal(0, 5, boxes.shape)
            dets.append(
                {
                    "boxes": det_boxes,
                    "scores": rng.uniform(size=count),
                    "labels": rng.integers(1, 4, count),
                }
            )
        assert_matches_pycocotools(gts, dets)

    def test_size_ranges_without_objects_are_minus_one(self):
        # every side at least 100 px: areas >= 10^4 > 96^2, so there are no small or medium boxes
        rng = np.random.default_rng(0)
        gts, dets = [], []
        for _ in range(10):
            boxes = random_boxes(rng, 3, 100, 200)
            gts.append({"boxes": boxes, "labels": rng.integers(1, 3, 3)})
            dets.append(
                {
                    "boxes": boxes + rng.normal(0, 8, boxes.shape),
                    "scores": rng.uniform(size=3),
                    "labels": rng.integers(1, 3, 3),
                }
            )
        result = assert_matches_pycocotools(gts, dets)
        assert result["APs"] == result["APm"] == -1.0
        assert 0.0 < result["APl"] == result["AP"] <= 1.0

    def test_pycocotools_fallback_gives_the_same(self, monkeypatch):
        import sys

        gts, dets = HAND_MADE["duplicates are false positives"]
        expected = coco_ap(gts, dets)
        monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # import raises ImportError
        assert coco_ap(gts, dets) == pytest.approx(expected, abs=1e-12)
        assert expected["APs"] == expected["APl"] == -1.0  # GT's boxes are all medium

    def test_perfect_and_empty(self):
        gts, dets = HAND_MADE["perfect"]
        assert coco_ap(gts, dets)["AP"] == pytest.approx(1.0)
        # no detections: 0 where there are objects (GT's: medium, 1600 and 1050 px), else -1
        no_detections = [{"boxes": [], "scores": [], "labels": []}]
        result = assert_matches_pycocotools(gts, no_detections)
        assert result == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "APs": -1.0, "APm": 0.0, "APl": -1.0}
        # no ground truth at all (the difficult box is a crowd region): every AP is -1
        only_difficult = [{"boxes": [[0, 0, 10, 10]], "labels": [1], "difficult": [True]}]
        for detections in (
            no_detections,
            [{"boxes": [[0, 0, 10, 10]], "scores": [1], "labels": [1]}],
        ):
            result = assert_matches_pycocotools(only_difficult, detections)
            assert set(result.values()) == {-1.0}

    def test_difficult_boxes_become_crowd_regions(self):
        ground_truth, _ = to_coco([GT], [{"boxes": [], "scores": [], "labels": []}])
        assert [a["iscrowd"] for a in ground_truth["annotations"]] == [0, 1, 0]
        assert ground_truth["annotations"][0]["bbox"] == [10.0, 10.0, 40.0, 40.0]


def reference_localization(gts, dets, thresholds, class_aware, score_threshold):
    """A literal, loop-by-loop reading of localization_metrics' rules in plain Python."""

    def iou(a, b):
        width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = width * height
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    gt_ious, det_ious, hits = [], [], []
    for gt, det in zip(gts, dets, strict=True):
        gt_boxes = [[float(v) for v in box] for box in gt["boxes"]]
        gt_labels = [int(label) for label in gt["labels"]]
        difficult = [bool(flag) for flag in gt.get("difficult", [False] * len(gt_boxes))]
        boxes = [[float(v) for v in box] for box in det["boxes"]]
        scores = [float(score) for score in det["scores"]]
        labels = [int(label) for label in det["labels"]]

        def same_class(det_label, gt_label):
            return det_label == gt_label or not class_aware

        # one to one, greedily by score (Python's sort is stable: ties keep their order)
        order = sorted(range(len(boxes)), key=lambda k: -scores[k])
        taken = [False] * len(gt_boxes)
        match = [0.0] * len(gt_boxes)
        for k in order:
            if scores[k] < score_threshold:
                continue
            best, best_iou = None, 0.0
            for j in range(len(gt_boxes)):
                if taken[j] or not same_class(labels[k], gt_labels[j]):
                    continue
                overlap = iou(boxes[k], gt_boxes[j])
                if overlap > best_iou:
                    best, best_iou = j, overlap
            if best is None:
                det_ious.append(0.0)  # a false positive
            elif difficult[best]:
                pass  # on a difficult box: counts neither way, and the box stays available
            else:
                taken[best] = True
                match[best] = best_iou
                det_ious.append(best_iou)
        for j in range(len(gt_boxes)):
            if not difficult[j]:
                gt_ious.append(match[j])

        # CorLoc: the top-scoring box at any score, per class present (non-difficult)
        present = []
        for j in range(len(gt_boxes)):
            key = gt_labels[j] if class_aware else None
            if not difficult[j] and key not in present:
                present.append(key)
        for key in present:
            top = None
            for k in range(len(boxes)):
                if (not class_aware or labels[k] == key) and (
                    top is None or scores[k] > scores[top]
                ):
                    top = k
            hit = False
            if top is not None:
                for j in range(len(gt_boxes)):
                    if (not class_aware or gt_labels[j] == key) and iou(
                        boxes[top], gt_boxes[j]
                    ) >= 0.5:
                        hit = True
            hits.append(hit)

    def fraction(flags):
        return sum(flags) / len(flags) if flags else 0.0

    result = {"mean_iou": fraction(gt_ious)}
    for t in thresholds:
        result[f"loc_acc@{t:g}"] = fraction([overlap >= t for overlap in gt_ious])
    for t in thresholds:
        result[f"det_loc_acc@{t:g}"] = fraction([overlap >= t for overlap in det_ious])
    result["corloc@0.5"] = fraction(hits)
    return result


def no_detections():
    return {"boxes": [], "scores": [], "labels": []}


def assert_localization(gts, dets, expected, **kwargs):
    """Both the implementation and the reference give the hand-computed ``expected``."""
    thresholds = kwargs.pop("thresholds", (0.5, 0.7))
    result = localization_metrics(gts, dets, thresholds=thresholds, **kwargs)
    reference = reference_localization(
        gts,
        dets,
        thresholds,
        kwargs.get("class_aware", True),
        kwargs.get("score_threshold", 0.5),
    )
    assert list(result) == list(expected)
    assert result == pytest.approx(expected, abs=1e-12)
    assert reference == pytest.approx(expected, abs=1e-12)


def localization(mean_iou, loc, det, corloc):
    """Expected metrics at thresholds (0.5, 0.7): ``loc`` and ``det`` are pairs."""
    return {
        "mean_iou": mean_iou,
        "loc_acc@0.5": loc[0],
        "loc_acc@0.7": loc[1],
        "det_loc_acc@0.5": det[0],
        "det_loc_acc@0.7": det[1],
        "corloc@0.5": corloc,
    }


LOC_GTS = [
    {
        "boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]],
        "labels": [1, 1, 2],
        "difficult": [False, False, True],
    }
]
LOC_DETS = [
    {
        "boxes": [[0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10]],
        "scores": [0.9, 0.2, 0.8],
        "labels": [1, 1, 2],
    }
]


class TestLocalizationMetrics:
    def test_confident_boxes_only(self):
        # IoU: d1 (0.9) with g1 50/100 = 0.5; d2 (0.2) with g2 1; d3 (0.8, class 2) with g1 1
        # but of the wrong class, and 0 with the only class-2 box (g3, difficult).
        # At 0.5: d1 -> g1 at 0.5, d3 unmatched (d2 is not confident). Ground truth (g1, g2):
        # IoU 0.5, 0 -> mean 0.25, loc 1/2, 0; detections (d1, d3): 0.5, 0 -> 1/2, 0;
        # CorLoc: class 1 only (class 2's box is difficult), top box d1 at 0.5: hit.
        assert_localization(LOC_GTS, LOC_DETS, localization(0.25, (0.5, 0.0), (0.5, 0.0), 1.0))
        # class-agnostic: d1 first still takes g1, d3 finds g1 taken and nothing else: the same
        expected = localization(0.25, (0.5, 0.0), (0.5, 0.0), 1.0)
        assert_localization(LOC_GTS, LOC_DETS, expected, class_aware=False)
        # at 0.1 d2 joins: g1 0.5, g2 1 -> mean 0.75, loc 1, 1/2; detections 0.5, 0, 1 -> 2/3,
        # 1/3; CorLoc unchanged (the top box, d1)
        expected = localization(0.75, (1.0, 0.5), (2 / 3, 1 / 3), 1.0)
        assert_localization(LOC_GTS, LOC_DETS, expected, score_threshold=0.1)

    def test_a_duplicate_is_unmatched(self):
        # d1 exact (0.9) takes the box; d2 (IoU 80/100 = 0.8) finds it taken
        gts = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
        dets = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 8]], "scores": [0.9, 0.7], "labels": [0, 0]}]
        assert_localization(gts, dets, localization(1.0, (1.0, 1.0), (0.5, 0.5), 1.0))

    def test_the_most_confident_box_claims_the_object_at_any_iou_above_zero(self):
        # d1 (0.9) overlaps the box by one pixel: IoU 1 / (100 + 100 - 1) = 1/199, a match;
        # the exact d2 (0.6) then finds the box taken. mean IoU 1/199; nothing at 0.5.
        gts = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
        dets = [{"boxes": [[9, 9, 19, 19], [0, 0, 10, 10]], "scores": [0.9, 0.6], "labels": [0, 0]}]
        assert_localization(gts, dets, localization(1 / 199, (0.0, 0.0), (0.0, 0.0), 0.0))

    def test_class_aware_and_agnostic(self):
        # g1 class 1, g2 class 2; d1 (0.9, class 1) exactly on g2, d2 (0.8, class 1) IoU 0.8
        # with g1
        gts = [{"boxes": [[0, 0, 10, 10], [20, 0, 30, 10]], "labels": [1, 2]}]
        dets = [{"boxes": [[20, 0, 30, 10], [0, 0, 10, 8]], "scores": [0.9, 0.8], "labels": [1, 1]}]
        # class-aware: d1 overlaps no class-1 box (unmatched), d2 -> g1 at 0.8; g2 unmatched.
        # mean (0.8 + 0) / 2; loc 1/2, 1/2; det (0, 0.8) -> 1/2, 1/2; CorLoc: class 1's top
        # box d1 misses g1, class 2 has no detection: 0 / 2
        assert_localization(gts, dets, localization(0.4, (0.5, 0.5), (0.5, 0.5), 0.0))
        # agnostic: d1 -> g2 at 1, d2 -> g1 at 0.8; CorLoc: top box d1 hits g2
        expected = localization(0.9, (1.0, 1.0), (1.0, 1.0), 1.0)
        assert_localization(gts, dets, expected, class_aware=False)

    def test_difficult_boxes_count_neither_way(self):
        # g1 = [0, 0, 10, 10]; g2 = [20, 0, 30, 10] difficult; all class 1
        gt = {"boxes": [[0, 0, 10, 10], [20, 0, 30, 10]], "labels": [1, 1], "difficult": [0, 1]}
        first = {
            "boxes": [[8, 0, 30, 10], [20, 0, 30, 10], [0, 0, 10, 5], [40, 0, 50, 10]],
            "scores": [0.95, 0.9, 0.8, 0.7],
            "labels": [1, 1, 1, 1],
        }
        # dA (0.95, area 220): IoU with g1 20/300 = 1/15, with g2 100/220 = 5/11: its best is
        # the difficult g2, so it is ignored and g1 stays free. dB (0.9) exactly on g2: ignored
        # too (difficult boxes are never used up). dC -> g1 at 0.5; dD overlaps nothing.
        # Ground truth g1: 0.5; detections dC, dD: 0.5, 0; CorLoc: top box dA at 5/11: miss.
        assert_localization([gt], [first], localization(0.5, (1.0, 0.0), (0.5, 0.0), 0.0))
        # the only detection is exactly on the difficult box: ignored, so no detection counts
        # (0.0); g1 is missed; CorLoc: the top box hits a box of the class, difficult or not
        second = {"boxes": [[20, 0, 30, 10]], "scores": [0.9], "labels": [1]}
        assert_localization([gt], [second], localization(0.0, (0.0, 0.0), (0.0, 0.0), 1.0))
        # both images: ground truth 0.5, 0; detections 0.5, 0; CorLoc 1/2
        expected = localization(0.25, (0.5, 0.0), (0.5, 0.0), 0.5)
        assert_localization([gt, gt], [first, second], expected)

    def test_empty_images_and_no_detections(self):
        box = [[0, 0, 10, 10]]
        one = {"boxes": box, "labels": [0]}
        empty = {"boxes": [], "labels": []}
        exact = {"boxes": box, "scores": [0.9], "labels": [0]}
        # a box in an image without objects is a false positive: detections 1, 0 -> 1/2
        expected = localization(1.0, (1.0, 1.0), (0.5, 0.5), 1.0)
        assert_localization([one, empty], [exact, exact], expected)
        # two images, one object found, one missed
        expected = localization(0.5, (0.5, 0.5), (1.0, 1.0), 0.5)
        assert_localization([one, one], [exact, no_detections()], expected)
        # no detections at all, nothing at all, only a difficult box: fractions over nothing
        # are 0.0
        zeros = localization(0.0, (0.0, 0.0), (0.0, 0.0), 0.0)
        assert_localization([one], [no_detections()], zeros)
        assert_localization([empty], [no_detections()], zeros)
        assert_localization([], [], zeros)
        difficult = {"boxes": box, "labels": [0], "difficult": [True]}
        assert_localization([difficult], [exact], zeros)
        # two empty boxes have IoU 0 / 0: no overlap, not NaN
        point = {"boxes": [[5, 5, 5, 5]], "labels": [0]}
        on_point = {"boxes": [[5, 5, 5, 5]], "scores": [0.9], "labels": [0]}
        assert_localization([point], [on_point], zeros)

    def test_score_threshold_and_corloc_at_any_score(self):
        gts = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
        dets = [{"boxes": [[0, 0, 10, 10]], "scores": [0.3], "labels": [0]}]
        # not confident at 0.5: nothing is matched, but CorLoc takes the top box at any score
        assert_localization(gts, dets, localization(0.0, (0.0, 0.0), (0.0, 0.0), 1.0))
        # a box scoring exactly the threshold is confident
        expected = localization(1.0, (1.0, 1.0), (1.0, 1.0), 1.0)
        assert_localization(gts, dets, expected, score_threshold=0.3)

    def test_thresholds_name_the_keys(self):
        gts = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
        dets = [{"boxes": [[0, 0, 10, 6]], "scores": [1.0], "labels": [0]}]  # IoU 0.6
        result = localization_metrics(gts, dets, thresholds=(0.6, 0.75))
        assert result == {
            "mean_iou": pytest.approx(0.6),
            "loc_acc@0.6": 1.0,
            "loc_acc@0.75": 0.0,
            "det_loc_acc@0.6": 1.0,
            "det_loc_acc@0.75": 0.0,
            "corloc@0.5": 1.0,
        }

    def spray(self, rng, objects, scores):
        """50 boxes around each object: its corners jittered by 30% of its size."""
        boxes, labels = [], []
        for box in objects:
            size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
            jittered = box + rng.normal(0, 0.3, (50, 4)) * size
            # keep x1 < x2, y1 < y2
            jittered = np.concatenate(
                [
                    np.minimum(jittered[:, :2], jittered[:, 2:]),
                    np.maximum(jittered[:, :2], jittered[:, 2:]),
                ],
                1,
            )
            boxes.append(jittered)
            labels.append(np.zeros(50, np.int64))
        return {
            "boxes": np.concatenate(boxes),
            "scores": rng.uniform(*scores, 50 * len(objects)),
            "labels": np.concatenate(labels),
        }

    def test_spraying_boxes_does_not_pay(self):
        import torch
        from torchvision.ops import box_iou

        rng = np.random.default_rng(0)
        objects = [
            np.array([[20.0, 20, 60, 60], [100, 40, 160, 120]]),
            np.array([[10.0, 10, 90, 70]]),
        ]
        gts = [{"boxes": boxes, "labels": np.zeros(len(boxes), np.int64)} for boxes in objects]
        exact = [
            {"boxes": boxes, "scores": np.full(len(boxes), 0.9), "labels": np.zeros(len(boxes))}
            for boxes in objects
        ]
        perfect = localization(1.0, (1.0, 1.0), (1.0, 1.0), 1.0)
        assert_localization(gts, exact, perfect)
        # a spray below 0.5 next to the exact boxes is not confident: nothing changes ...
        low = [self.spray(rng, boxes, (0.05, 0.45)) for boxes in objects]
        with_low = [
            {key: np.concatenate([e[key], s[key]]) for key in e}
            for e, s in zip(exact, low, strict=True)
        ]
        assert_localization(gts, with_low, perfect)
        # ... and at 0.05 the exact boxes (0.9) take every object first, so the 150 sprayed
        # boxes are all unmatched: 3 of 153 detections localise
        expected = localization(1.0, (1.0, 1.0), (3 / 153, 3 / 153), 1.0)
        assert_localization(gts, with_low, expected, score_threshold=0.05)
        # a confident spray alone: it covers every object (the first definition, the best IoU
        # of any box, gave loc_acc@0.5 = 1), but one to one at most 3 of its 150 boxes match
        high = [self.spray(rng, boxes, (0.5, 1.0)) for boxes in objects]
        best_of_any = np.concatenate(
            [
                box_iou(torch.as_tensor(gt["boxes"]), torch.as_tensor(det["boxes"])).max(1).values
                for gt, det in zip(gts, high, strict=True)
            ]
        )
        assert (best_of_any >= 0.5).all()
        result = localization_metrics(gts, high)
        assert result["det_loc_acc@0.5"] <= 3 / 150
        assert result == pytest.approx(
            reference_localization(gts, high, (0.5, 0.7), True, 0.5), abs=1e-12
        )

    @pytest.mark.parametrize("seed", range(4))
    @pytest.mark.parametrize("class_aware", [True, False])
    @pytest.mark.parametrize("score_threshold", [0.0, 0.5])
    def test_random_inputs_match_the_reference(self, seed, class_aware, score_threshold):
        rng = np.random.default_rng(seed)
        gts, dets = [], []
        for _ in range(30):
            count = rng.integers(0, 6)
            boxes = random_boxes(rng, count, 5, 80, extent=200)
            gts.append(
                {
                    "boxes": boxes,
                    "labels": rng.integers(0, 3, count),
                    "difficult": rng.uniform(size=count) < 0.2,
                }
            )
            copies = boxes[rng.integers(0, count, rng.integers(0, 10))] if count else boxes
            copies = copies + rng.normal(0, 6, copies.shape) * (
                rng.uniform(size=(len(copies), 1)) < 0.8
            )
            all_boxes = np.concatenate([copies, random_boxes(rng, 4, 5, 80, extent=200)])
            dets.append(
                {
                    "boxes": all_boxes,
                    "scores": np.round(rng.uniform(size=len(all_boxes)), 1),  # ties, and 0.5
                    "labels": rng.integers(0, 3, len(all_boxes)),
                }
            )
        thresholds = (0.3, 0.5, 0.75)
        result = localization_metrics(gts, dets, thresholds, class_aware, score_threshold)
        expected = reference_localization(gts, dets, thresholds, class_aware, score_threshold)
        assert list(result) == list(expected)
        assert result == pytest.approx(expected, abs=1e-12)
        assert 0 < result["mean_iou"] < 1 and 0 < result["det_loc_acc@0.5"] < 1
