"""NT-Xent (SimCLR) and supervised contrastive (SupCon) losses.

Both L2-normalise the embeddings and work in float32 or float64 even under autocast, because
``exp(s / 0.05)`` overflows float16 and bfloat16 loses the small differences between similarities
that the loss is made of.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condet.losses import distributed


@dataclass
class ContrastSet:
    """Anchors (this process's views) and the contrast set (every process's views).

    ``anchors`` ``[A, D]`` and ``contrast`` ``[K, D]`` are L2-normalised; ``self_columns`` ``[A]``
    is the column of each anchor in the contrast set, which the losses leave out.
    """

    anchors: Tensor
    anchor_labels: Tensor
    contrast: Tensor
    contrast_labels: Tensor
    self_columns: Tensor

    def similarities(self) -> Tensor:
        """Cosine similarities ``[A, K]``."""
        return self.anchors @ self.contrast.T


def contrast_set(
    features: Tensor,
    labels: Tensor | None,
    gather_distributed: bool = False,
    memory: tuple[Tensor, Tensor] | None = None,
) -> ContrastSet:
    """Check shapes, normalise, flatten the views, and gather across processes when asked.

    Views are flattened sample-major (sample 0's views, then sample 1's ...). Without labels,
    every sample is its own class, numbered uniquely across processes. ``memory`` (embeddings
    ``[Q, D]`` and labels ``[Q]``, e.g. a :class:`~condet.losses.queue.LabelledQueue`) joins
    the contrast set after the views, without gradient: positives and negatives, never anchors.
    """
    if features.ndim != 3:
        raise ValueError(f"features must be [N, V, D], got shape {tuple(features.shape)}")
    count, views, _ = features.shape
    if labels is None:
        labels = torch.arange(count, device=features.device) + distributed.rank() * count
    if labels.shape != (count,):
        raise ValueError(f"labels must be [N] = [{count}], got shape {tuple(labels.shape)}")
    if labels.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if features.dtype in (torch.float16, torch.bfloat16):
        features = features.float()
    anchors = F.normalize(features, dim=-1).reshape(count * views, -1)
    anchor_labels = labels.long().repeat_interleave(views)
    if gather_distributed and distributed.world_size() > 1:
        contrast = distributed.gather_with_grad(anchors)
        contrast_labels = distributed.gather_no_grad(anchor_labels)
        offset = distributed.rank() * len(anchors)
    else:
        contrast, contrast_labels, offset = anchors, anchor_labels, 0
    self_columns = torch.arange(len(anchors), device=features.device) + offset
    if memory is not None:
        if labels is None:
            raise ValueError("a memory of past embeddings needs labels")
        stored, stored_labels = memory
        stored = F.normalize(stored.detach().to(contrast.dtype), dim=-1)
        contrast = torch.cat([contrast, stored])
        contrast_labels = torch.cat([contrast_labels, stored_labels.long()])
    return ContrastSet(anchors, anchor_labels, contrast, contrast_labels, self_columns)


def mask_self(similarities: Tensor, self_columns: Tensor) -> Tensor:
    """``similarities`` with each anchor's own column set to ``-inf`` (out of every sum)."""
    return similarities.scatter(1, self_columns[:, None], float("-inf"))


def _no_autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, enabled=False)


def supcon_loss(
    features: Tensor,
    labels: Tensor | None,
    temperature: float = 0.1,
    gather_distributed: bool = False,
    memory: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Supervised contrastive loss, L_out of Khosla et al. 2020 ("all" contrast mode).

    Every view ``i`` is an anchor; ``P(i)`` are the other views of its class, ``A(i)`` all other
    views, ``s`` cosine similarities and ``t`` the temperature (``base_temperature = t``)::

        L = mean_i  -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / t) / sum_{a in A(i)} exp(s_ia / t) )

    Anchors with no positive contribute nothing and are not counted. With ``labels=None`` every
    sample is its own class (SimCLR's NT-Xent).

    Args:
        features: ``[N, V, D]``, ``V`` views of ``N`` samples (normalised here).
        labels: LongTensor ``[N]`` or ``None``.
        temperature: ``t``.
        gather_distributed: contrast against the views of all processes (see
            :mod:`condet.losses.distributed`).
        memory: past embeddings ``[Q, D]`` and their labels ``[Q]`` added to ``P(i)`` and
            ``A(i)`` (a MoCo-style queue for small batches, as the report's code uses).

    Returns:
        The scalar loss.

    >>> features = torch.randn(8, 2, 128)
    >>> loss = supcon_loss(features, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    """
    with _no_autocast(features.device):
        views = contrast_set(features, labels, gather_distributed, memory)
        logits = mask_self(views.similarities(), views.self_columns) / temperature
        log_denominator = torch.logsumexp(logits, dim=1)
        # sum_p s_ip from per-class sums of the embeddings: an [A, D] product instead of a
        # masked pass over the [A, K] similarity matrix.
        classes, contrast_class = torch.unique(views.contrast_labels, return_inverse=True)
        anchor_class = torch.searchsorted(classes, views.anchor_labels)
        class_sums = torch.zeros(
            len(classes),
            views.contrast.shape[1],
            dtype=views.contrast.dtype,
            device=views.contrast.device,
        )
        class_sums = class_sums.index_add(0, contrast_class, views.contrast)
        class_sizes = torch.bincount(contrast_class, minlength=len(classes))
        positives = class_sizes[anchor_class] - 1
        similarity_sums = (views.anchors * class_sums[anchor_class]).sum(1)
        similarity_sums = similarity_sums - (views.anchors * views.anchors).sum(1)
        counted = positives > 0
        per_anchor = log_denominator - similarity_sums / temperature / positives.clamp(min=1)
        return _mean_over(per_anchor, counted)


def _mean_over(per_anchor: Tensor, counted: Tensor) -> Tensor:
    """Mean of ``per_anchor`` over ``counted`` (0 when none is), without a host sync."""
    total = torch.where(counted, per_anchor, 0.0).sum()
    return total / counted.sum().clamp(min=1)


def ntxent_loss(
    z1: Tensor, z2: Tensor, temperature: float = 0.5, gather_distributed: bool = False
) -> Tensor:
    """NT-Xent, the SimCLR loss (Chen et al. 2020).

    The ``2N`` views are all anchors; the positive of a view is the other view of its image and
    the denominator runs over the ``2N - 1`` other views::

        L = mean_i  -log( exp(s_i,pos(i) / t) / sum_{a != i} exp(s_ia / t) )

    Equal to ``supcon_loss(torch.stack([z1, z2], 1), None, temperature)``.

    Args:
        z1, z2: ``[N, D]``, the embeddings of the two views of ``N`` images.
        temperature: ``t``.
        gather_distributed: contrast against the views of all processes.

    >>> loss = ntxent_loss(torch.randn(16, 128), torch.randn(16, 128))
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be [N, D], got {tuple(z1.shape)}, {tuple(z2.shape)}")
    return supcon_loss(torch.stack([z1, z2], dim=1), None, temperature, gather_distributed)


class NTXentLoss(nn.Module):
    """:func:`ntxent_loss` as a module: ``loss = NTXentLoss(0.5)(z1, z2)``."""

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return ntxent_loss(z1, z2, self.temperature, self.gather_distributed)


class SupConLoss(nn.Module):
    """:func:`supcon_loss` as a module: ``loss = SupConLoss(0.1)(features, labels)``."""

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        return supcon_loss(features, labels, self.temperature, self.gather_distributed)
