"""Evaluation: detection AP and localization, top-k accuracy, and out-of-distribution metrics.

Boxes are ``xyxy`` float pixel coordinates, one dict per image (see
:mod:`condet.evaluation.boxes`). Evaluating a whole detector or crop encoder is
:mod:`condet.evaluation.detectors` / :mod:`condet.evaluation.encoders`; the frozen-feature
command is :mod:`condet.evaluation.features`, not imported here: it is a command (configs, a
run folder).
"""

from condet.evaluation.classification import topk_accuracy
from condet.evaluation.coco_metrics import coco_ap
from condet.evaluation.detection import voc_ap
from condet.evaluation.localization import localization_metrics
from condet.evaluation.ood import ood_metrics

__all__ = ["coco_ap", "localization_metrics", "ood_metrics", "topk_accuracy", "voc_ap"]
