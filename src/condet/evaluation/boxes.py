"""The box dicts the detection metrics take, as numpy arrays.

Boxes are ``xyxy`` float pixel coordinates, one dict per image::

    gts[i]  = {"boxes": [M, 4], "labels": [M], "difficult": [M] bool (optional),
               "iscrowd": [M] bool (optional)}
    dets[i] = {"boxes": [K, 4], "scores": [K], "labels": [K]}

Values may be numpy arrays, tensors or lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Boxes = dict[str, Any]


def as_array(value: Any, dtype: Any, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value if value is not None else [], dtype=dtype)
    return array.reshape(-1, *shape_tail)


def ground_truth_arrays(gt: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = as_array(gt["boxes"], np.float64, (4,))
    labels = as_array(gt["labels"], np.int64)
    difficult = as_array(gt.get("difficult"), bool) if gt.get("difficult") is not None else None
    if difficult is None or len(difficult) == 0:
        difficult = np.zeros(len(boxes), bool)
    if len(labels) != len(boxes) or len(difficult) != len(boxes):
        raise ValueError("every ground-truth box needs a label (and difficult flag)")
    return boxes, labels, difficult


def detection_arrays(det: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = as_array(det["boxes"], np.float64, (4,))
    scores = as_array(det["scores"], np.float64)
    labels = as_array(det["labels"], np.int64)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError("every detection needs a box, a score and a label")
    return boxes, scores, labels
