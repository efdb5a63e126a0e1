"""Ranked InfoNCE: RINCE (Hoffmann et al. 2022) with user-ranked classes.

The contrastive-detection report ranks, for each class, the classes most similar to it
("aeroplane: bird, then boat"), and asks the embedding to respect that order::

    h(q, P_1) > h(q, P_2) > ... > h(q, P_r) > h(q, N)

For anchor ``i`` and every other view ``a``, ``level(i, a) = rank_matrix[y_i, y_a]``; ``P_k`` are
the views at level ``k`` (``P_1``: the anchor's own class) and ``N`` the rest (level 0, or above
``r``). For each ``k = 1..r`` with ``P_k`` non-empty, with its own temperature ``t_k``
(increasing with ``k``), and ``s`` cosine similarities:

- ``mode="in"``: the positives of rank ``k`` share one numerator; higher ranks leave the
  denominator::

      l_k = -log( sum_{p in P_k} e^{s_ip/t_k} / sum_{a in P_k ∪ P_k+1 ∪ .. ∪ P_r ∪ N} e^{s_ia/t_k} )

- ``mode="out"``: each positive is contrasted alone against the lower ranks::

      l_k = -1/|P_k| sum_{p in P_k} log( e^{s_ip/t_k} / (e^{s_ip/t_k} + L_ik) )
      L_ik = sum_{a in P_k+1 ∪ .. ∪ P_r ∪ N} e^{s_ia/t_k}

``loss = mean over anchors of sum_k l_k``; anchors with no non-empty ``P_k`` are not counted.
With ``r = 1`` and ``mode="in"`` it is SupCon's L_in; with
:func:`~condet.losses.rankings.rank_matrix_from_groups` it is RINCE with superclasses.

Every view's similarities to the views of one class are summed at once (a product with the
one-hot class matrix), so a rank costs one ``exp`` over the ``[A, K]`` similarity matrix
whatever the number of classes. Sums are shifted by the (detached) largest similarity of each
anchor and class, so no ``exp`` overflows or underflows to a zero sum at any temperature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condet.losses.contrastive import (
    ContrastSet,
    _mean_over,
    _no_autocast,
    contrast_set,
    mask_self,
)

MODES = ("in", "out")


def ranked_infonce_loss(
    features: Tensor,
    labels: Tensor,
    rank_matrix: Tensor,
    temperatures: Sequence[float],
    mode: str = "in",
    gather_distributed: bool = False,
) -> Tensor:
    """Ranked InfoNCE loss (see the module docstring for the formula).

    Args:
        features: ``[N, V, D]``, ``V`` views of ``N`` samples (normalised here).
        labels: LongTensor ``[N]``, class indices into ``rank_matrix``.
        rank_matrix: LongTensor ``[C, C]``; ``rank_matrix[c, c']`` is the rank of class ``c'``
            for an anchor of class ``c`` (1 on the diagonal, 0 for negatives), e.g. from
            :func:`~condet.losses.rankings.rank_matrix_from_rankings`.
        temperatures: ``t_1 .. t_r``; ``r = len(temperatures)``, higher ranks are negatives.
        mode: ``"in"`` or ``"out"``.
        gather_distributed: contrast against the views of all processes.

    Returns:
        The scalar loss.

    >>> rank_matrix = torch.tensor([[1, 2, 0], [2, 1, 0], [0, 0, 1]])
    >>> features, labels = torch.randn(6, 2, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> loss = ranked_infonce_loss(features, labels, rank_matrix, [0.1, 0.2])
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not temperatures or any(t <= 0 for t in temperatures):
        raise ValueError(f"temperatures must be positive, one per rank, got {list(temperatures)}")
    num_classes = _check_rank_matrix(rank_matrix)
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        raise ValueError(f"labels must be class indices in 0..{num_classes - 1}")
    with _no_autocast(features.device):
        views = contrast_set(features, labels, gather_distributed)
        # Levels above r need no special case: no rank k <= r selects them, and every
        # denominator takes them with the negatives (level > k).
        levels = rank_matrix.to(features.device)[views.anchor_labels]
        similarities = views.similarities()
        class_log_mass = _ClassLogMass(similarities, views, num_classes)
        if mode == "out":
            pair_levels = levels.gather(1, views.contrast_labels.expand_as(similarities))
            pair_levels = pair_levels.scatter(1, views.self_columns[:, None], -1)
        loss_sum = similarities.new_zeros(len(similarities))
        counted = torch.zeros(len(similarities), dtype=torch.bool, device=features.device)
        for rank, temperature in enumerate(temperatures, start=1):
            log_mass = class_log_mass(temperature)
            positive = (levels == rank) & class_log_mass.present
            has_positive = positive.any(1)
            counted |= has_positive
            if mode == "in":
                denominator = ((levels >= rank) | (levels == 0)) & class_log_mass.present
                terms = _masked_logsumexp(log_mass, denominator) - _masked_logsumexp(
                    log_mass, positive
                )
            else:
                lower = ((levels > rank) | (levels == 0)) & class_log_mass.present
                log_lower = _masked_logsumexp(log_mass, lower)
                terms = _out_terms(similarities / temperature, pair_levels == rank, log_lower)
            loss_sum = loss_sum + torch.where(has_positive, terms, 0.0)
        return _mean_over(loss_sum, counted)


def _check_rank_matrix(rank_matrix: Tensor) -> int:
    if rank_matrix.ndim != 2 or rank_matrix.shape[0] != rank_matrix.shape[1]:
        raise ValueError(f"rank_matrix must be [C, C], got shape {tuple(rank_matrix.shape)}")
    if rank_matrix.dtype.is_floating_point or (rank_matrix < 0).any():
        raise ValueError("rank_matrix must hold non-negative integer ranks")
    if not (rank_matrix.diagonal() == 1).all():
        raise ValueError("rank_matrix must be 1 on the diagonal (a class is its own rank 1)")
    return rank_matrix.shape[0]


class _ClassLogMass:
    """``log sum_{a in class c, a != i} exp(s_ia / t)`` for every anchor ``i`` and class ``c``."""

    def __init__(self, similarities: Tensor, views: ContrastSet, num_classes: int) -> None:
        anchors, contrast = similarities.shape
        column_classes = views.contrast_labels.expand(anchors, contrast)
        masked = mask_self(similarities, views.self_columns)
        own_class = F.one_hot(views.anchor_labels, num_classes).bool()
        sizes = torch.bincount(views.contrast_labels, minlength=num_classes)
        self.present = (sizes[None, :] - own_class.long()) > 0
        with torch.no_grad():
            shift = masked.new_full((anchors, num_classes), float("-inf"))
            shift = shift.scatter_reduce(1, column_classes, masked, "amax")
            self.shift = torch.where(self.present, shift, 0.0)
        # <= 0 everywhere, 0 at each class's largest similarity, -inf on the anchor itself
        self.shifted = masked - self.shift.gather(1, column_classes)
        self.one_hot = F.one_hot(views.contrast_labels, num_classes).to(similarities.dtype)

    def __call__(self, temperature: float) -> Tensor:
        mass = torch.exp(self.shifted / temperature) @ self.one_hot
        safe = torch.where(self.present, mass, 1.0)
        log_mass = torch.log(safe) + self.shift / temperature
        return log_mass.masked_fill(~self.present, float("-inf"))


def _masked_logsumexp(values: Tensor, mask: Tensor) -> Tensor:
    """Row-wise ``logsumexp`` over ``mask``; ``-inf`` (with zero gradient) for empty rows."""
    has_any = mask.any(1)
    safe = torch.where(has_any[:, None], values.masked_fill(~mask, float("-inf")), 0.0)
    return torch.where(has_any, torch.logsumexp(safe, dim=1), float("-inf"))


def _out_terms(logits: Tensor, pairs: Tensor, log_lower: Tensor) -> Tensor:
    """Per anchor, the mean over its ``pairs`` of ``softplus(log_lower - logit)``.

    ``-log(e^x / (e^x + L)) = softplus(log L - x)``, which stays finite for any ``x`` and ``L``.
    """
    per_pair = F.softplus(log_lower[:, None] - logits)
    return per_pair.masked_fill(~pairs, 0.0).sum(1) / pairs.sum(1).clamp(min=1)


class RankedInfoNCELoss(nn.Module):
    """:func:`ranked_infonce_loss` as a module holding its rank matrix and temperatures.

    >>> loss_fn = RankedInfoNCELoss(torch.tensor([[1, 2], [2, 1]]), [0.1, 0.2])
    >>> loss = loss_fn(torch.randn(4, 2, 16), torch.tensor([0, 1, 0, 1]))
    """

    def __init__(
        self,
        rank_matrix: Tensor,
        temperatures: Sequence[float],
        mode: str = "in",
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        _check_rank_matrix(rank_matrix)
        self.register_buffer("rank_matrix", rank_matrix.long())
        self.temperatures = list(temperatures)
        self.mode = mode
        self.gather_distributed = gather_distributed

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return ranked_infonce_loss(
            features,
            labels,
            self.rank_matrix,
            self.temperatures,
            self.mode,
            self.gather_distributed,
        )
