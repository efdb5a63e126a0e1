"""Class rankings from a similarity between classes, for users who would rather not rank
classes by hand.

The contrastive-detection report named tuning rankings by hand as its main difficulty. Here a
similarity between classes is measured and each class's most similar classes become its
ranking:

- :func:`prototype_similarity`: cosine similarity of class prototypes (mean normalised
  embeddings) under any encoder, e.g. a SimCLR backbone that saw no labels;
- :func:`confusion_similarity`: how often a cross-entropy classifier mistakes one class for the
  other, made symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def prototype_similarity(embeddings: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` cosine similarity of the classes' mean normalised embeddings."""
    normalised = F.normalize(embeddings.float(), dim=1)
    sums = torch.zeros(num_classes, normalised.shape[1]).index_add_(0, labels.long(), normalised)
    prototypes = F.normalize(sums, dim=1)
    return prototypes @ prototypes.T


def confusion_similarity(logits: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` symmetric confusion rate: ``(P(predict c'|c) + P(predict c|c')) / 2``."""
    predictions = logits.argmax(1)
    confusion = torch.zeros(num_classes, num_classes)
    confusion.index_put_(
        (labels.long(), predictions.long()), torch.ones(len(labels)), accumulate=True
    )
    rates = confusion / confusion.sum(1, keepdim=True).clamp(min=1)
    return (rates + rates.T) / 2


def rankings_from_similarity(
    similarity: Tensor,
    classes: Sequence[str],
    neighbours: int = 2,
    min_similarity: float | None = None,
) -> dict[str, list[str]]:
    """Each class's ``neighbours`` most similar other classes, most similar first.

    Classes below ``min_similarity`` are left out, so a class unlike all others ranks none.
    Ties keep class order.
    """
    rankings = {}
    for index, name in enumerate(classes):
        others = [o for o in range(len(classes)) if o != index]
        others.sort(key=lambda other: -float(similarity[index, other]))
        if min_similarity is not None:
            others = [o for o in others if float(similarity[index, o]) >= min_similarity]
        rankings[name] = [classes[o] for o in others[:neighbours]]
    return rankings
