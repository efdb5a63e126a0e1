"""How trustworthy a teacher's pseudo-labels are: their precision and recall against the true
boxes that ``--label-fraction`` hid.

A pseudo-label is right when it matches a true box of its class at IoU at least 0.5, one to
one, the most confident first (as VOC AP matches detections): precision is the share of
pseudo-labels that are right, recall the share of true boxes that one of them found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.ops import box_iou

MATCH_IOU = 0.5


def matched_pseudo_labels(
    pseudo: Mapping[str, torch.Tensor], truth: Mapping[str, torch.Tensor], iou: float = MATCH_IOU
) -> int:
    """How many of one image's pseudo-labels (``boxes [K, 4]``, ``labels [K]``, ``scores
    [K]``) match a distinct true box (``boxes [M, 4]``, ``labels [M]``) of their class."""
    if not len(pseudo["boxes"]) or not len(truth["boxes"]):
        return 0
    overlap = box_iou(pseudo["boxes"].float(), truth["boxes"].float())
    overlap[pseudo["labels"][:, None] != truth["labels"][None, :]] = 0.0
    available = torch.ones(overlap.shape[1], dtype=torch.bool, device=overlap.device)
    matched = 0
    for index in torch.argsort(pseudo["scores"], descending=True, stable=True).tolist():
        candidates = torch.where(available, overlap[index], torch.zeros_like(overlap[index]))
        best = int(candidates.argmax())
        if candidates[best] >= iou:
            available[best] = False
            matched += 1
    return matched


@dataclass
class PseudoLabelCounts:
    """Pseudo-labels given, how many were right, and the true boxes they were judged against."""

    right: int = 0
    given: int = 0
    true: int = 0
    images: int = 0

    def add(self, pseudo: Mapping[str, torch.Tensor], truth: Mapping[str, torch.Tensor]) -> None:
        """Count one image whose true boxes are known."""
        self.right += matched_pseudo_labels(pseudo, truth)
        self.given += len(pseudo["boxes"])
        self.true += len(truth["boxes"])
        self.images += 1

    def summary(self) -> dict[str, Any]:
        """``precision``, ``recall`` (None without pseudo-labels / true boxes) and per image
        counts."""
        return {
            "precision": self.right / self.given if self.given else None,
            "recall": self.right / self.true if self.true else None,
            "pseudo_labels_per_image": self.given / self.images if self.images else None,
            "true_boxes_per_image": self.true / self.images if self.images else None,
            "images": self.images,
        }


def pseudo_label_quality(
    pairs: Iterable[tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]],
) -> dict[str, Any]:
    """:meth:`PseudoLabelCounts.summary` of ``(pseudo-labels, true boxes)`` pairs, an image each.

    >>> box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    >>> pseudo = {"boxes": box, "labels": torch.tensor([1]), "scores": torch.tensor([0.9])}
    >>> truth = {"boxes": torch.cat([box, box + 20]), "labels": torch.tensor([1, 1])}
    >>> quality = pseudo_label_quality([(pseudo, truth)])
    >>> quality["precision"], quality["recall"]
    (1.0, 0.5)
    """
    counts = PseudoLabelCounts()
    for pseudo, truth in pairs:
        counts.add(pseudo, truth)
    return counts.summary()
