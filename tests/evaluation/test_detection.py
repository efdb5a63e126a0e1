from __future__ import annotations

import numpy as np
import pytest

from condet.evaluation.detection import coco_ap, localization_metrics, to_coco, voc_ap


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

    def test_image_count_mismatch(self):
        with pytest.raises(ValueError, match="2 ground-truth images but 1 detection images"):
            voc_ap([GT, GT], [{"boxes": [], "scores": [], "labels": []}])


class TestCocoAp:
    def _pycocotools(self, gts, dets):
        import contextlib
        import io

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

    @pytest.mark.parametrize("seed", range(3))
    def test_matches_pycocotools(self, seed):
        rng = np.random.default_rng(seed)
        gts, dets = [], []
        for _ in range(20):
            count = rng.integers(1, 8)
            xy = rng.uniform(0, 300, (count, 2))
            boxes = np.concatenate([xy, xy + rng.uniform(4, 150, (count, 2))], 1)
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
        expected = self._pycocotools(gts, dets)
        result = coco_ap(gts, dets)
        assert list(result) == ["AP", "AP50", "AP75", "APs", "APm", "APl"]
        for value, reference in zip(result.values(), expected, strict=True):
            assert value == pytest.approx(max(reference, 0.0), abs=1e-9)

    def test_perfect_and_empty(self):
        gts, dets = HAND_MADE["perfect"]
        assert coco_ap(gts, dets)["AP"] == pytest.approx(1.0)
        assert coco_ap(gts, [{"boxes": [], "scores": [], "labels": []}])["AP"] == 0.0

    def test_difficult_boxes_become_crowd_regions(self):
        ground_truth, _ = to_coco([GT], [{"boxes": [], "scores": [], "labels": []}])
        assert [a["iscrowd"] for a in ground_truth["annotations"]] == [0, 1, 0]
        assert ground_truth["annotations"][0]["bbox"] == [10.0, 10.0, 40.0, 40.0]


class TestLocalizationMetrics:
    def test_hand_computed(self):
        gts = [
            {
                "boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]],
                "labels": [1, 1, 2],
                "difficult": [False, False, True],
            }
        ]
        dets = [
            {
                "boxes": [[0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10]],
                "scores": [0.9, 0.2, 0.8],
                "labels": [1, 1, 2],
            }
        ]
        # box 1: best same-class IoU 0.5 (the label-2 exact box does not count); box 2: 1.0
        result = localization_metrics(gts, dets)
        assert result == pytest.approx({"mean_iou": 0.75, "loc_acc@0.5": 1.0, "loc_acc@0.7": 0.5})
        agnostic = localization_metrics(gts, dets, class_aware=False)
        assert agnostic == pytest.approx({"mean_iou": 1.0, "loc_acc@0.5": 1.0, "loc_acc@0.7": 1.0})
        strict = localization_metrics(gts, dets, score_threshold=0.5)
        assert strict == pytest.approx({"mean_iou": 0.25, "loc_acc@0.5": 0.5, "loc_acc@0.7": 0.0})

    def test_missed_objects_count_as_zero(self):
        gts = [{"boxes": [[0, 0, 10, 10]], "labels": [1]}, {"boxes": [[0, 0, 4, 4]], "labels": [1]}]
        dets = [
            {"boxes": [[0, 0, 10, 10]], "scores": [1.0], "labels": [1]},
            {"boxes": [], "scores": [], "labels": []},
        ]
        result = localization_metrics(gts, dets, thresholds=(0.5,))
        assert result == pytest.approx({"mean_iou": 0.5, "loc_acc@0.5": 0.5})
