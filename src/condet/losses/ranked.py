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
:func:`~condet.rankings.matrix.rank_matrix_from_groups` it is RINCE with superclasses.

Every view's similarities to the views of one class are summed at once (a product with the
one-hot class matrix), so a rank costs one ``exp`` over the ``[A, K]`` similarity matrix
whatever the number of classes. Sums are shifted by the (detached) largest similarity of each
anchor and class, so no ``exp`` overflows or underflows to a zero sum at any temperature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condet.losses.contrastive import ContrastSet, _mean_over, _no_autocast, contrast_set

MODES = ("in", "out")


def ranked_infonce_loss(
    features: Tensor,
    labels: Tensor,
    rank_matrix: Tensor,
    temperatures: Sequence[float],
    mode: str = "in",
    gather_distributed: bool = False,
    memory: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Ranked InfoNCE loss (see the module docstring for the formula).

    Args:
        features: ``[N, V, D]``, ``V`` views of ``N`` samples (normalised here).
        labels: LongTensor ``[N]``, class indices into ``rank_matrix``.
        rank_matrix: LongTensor ``[C, C]``; ``rank_matrix[c, c']`` is the rank of class ``c'``
            for an anchor of class ``c`` (1 on the diagonal, 0 for negatives), e.g. from
            :func:`~condet.rankings.matrix.rank_matrix_from_rankings`.
        temperatures: ``t_1 .. t_r``; ``r = len(temperatures)``, higher ranks are negatives.
        mode: ``"in"`` or ``"out"``.
        gather_distributed: contrast against the views of all processes.
        memory: past embeddings ``[Q, D]`` and labels ``[Q]`` joining the contrast set
            (see :func:`~condet.losses.contrastive.supcon_loss`).

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
        views = contrast_set(features, labels, gather_distributed, memory)
        similarities = views.similarities()
        # Levels above r need no special case: no rank k <= r selects them, and every
        # denominator takes them with the negatives (level > k).
        levels = rank_matrix.to(features.device)[views.anchor_labels]
        own_class = F.one_hot(views.anchor_labels, num_classes).bool()
        sizes = torch.bincount(views.contrast_labels, minlength=num_classes)
        present = (sizes[None, :] - own_class.long()) > 0
        log_mass = _ClassLogMass.apply(
            similarities, views.contrast_labels, views.self_columns, present, tuple(temperatures)
        )
        terms = []
        for rank in range(1, len(temperatures) + 1):
            positive = (levels == rank) & present
            if mode == "in":
                kept = ((levels >= rank) | (levels == 0)) & present
                term = _masked_logsumexp(log_mass[rank - 1], kept) - _masked_logsumexp(
                    log_mass[rank - 1], positive
                )
                terms.append(torch.where(positive.any(1), term, 0.0))
            else:
                lower = ((levels > rank) | (levels == 0)) & present
                terms.append(_masked_logsumexp(log_mass[rank - 1], lower))
        if mode == "in":
            per_anchor = torch.stack(terms).sum(0)
        else:
            per_anchor = _out_terms(similarities, views, levels, torch.stack(terms), temperatures)
        counted = ((levels >= 1) & (levels <= len(temperatures)) & present).any(1)
        return _mean_over(per_anchor, counted)


def _check_rank_matrix(rank_matrix: Tensor) -> int:
    if rank_matrix.ndim != 2 or rank_matrix.shape[0] != rank_matrix.shape[1]:
        raise ValueError(f"rank_matrix must be [C, C], got shape {tuple(rank_matrix.shape)}")
    if rank_matrix.dtype.is_floating_point or (rank_matrix < 0).any():
        raise ValueError("rank_matrix must hold non-negative integer ranks")
    if not (rank_matrix.diagonal() == 1).all():
        raise ValueError("rank_matrix must be 1 on the diagonal (a class is its own rank 1)")
    return rank_matrix.shape[0]


class _ClassLogMass(torch.autograd.Function):
    """``log sum_{a in class c, a != i} exp(s_ia / t_k)`` for each rank, anchor ``i``, class ``c``.

    Input: similarities ``[A, K]``; output ``[r, A, C]``, ``-inf`` where ``c`` has no view but
    the anchor. While ``exp(±1 / t)`` is a normal float (t above about 0.0125 in float32), the
    exponentials of cosine similarities can neither overflow nor underflow and are taken as
    they are; below that, each is shifted by the (detached) largest similarity of its anchor
    and class, as a stable log-sum-exp does. The backward is written out: it reuses the saved
    exponentials and spreads class gradients with a gather, where autograd would add passes
    over ``[A, K]`` and a product with the one-hot matrix.
    """

    @staticmethod
    def forward(ctx, similarities, contrast_labels, self_columns, present, temperatures):
        anchors, contrast = similarities.shape
        num_classes = present.shape[1]
        column_classes = contrast_labels.expand(anchors, contrast)
        exponent_limit = 0.9 * -math.log(torch.finfo(similarities.dtype).tiny)
        if 1.0 / min(temperatures) < exponent_limit:
            shift = similarities.new_zeros(anchors, num_classes)
            shifted = similarities
        else:
            masked = similarities.scatter(1, self_columns[:, None], float("-inf"))
            shift = masked.new_full((anchors, num_classes), float("-inf"))
            shift = shift.scatter_reduce(1, column_classes, masked, "amax")
            shift = torch.where(present, shift, 0.0)
            shifted = masked.sub_(shift.gather(1, column_classes))
        one_hot = F.one_hot(contrast_labels, num_classes).to(similarities.dtype)
        exponentials = similarities.new_empty(len(temperatures), anchors, contrast)
        for rank, temperature in enumerate(temperatures):
            torch.mul(shifted, 1.0 / temperature, out=exponentials[rank]).exp_()
            # the anchor itself is in no sum
            exponentials[rank].scatter_(1, self_columns[:, None], 0.0)
        masses = (exponentials.view(-1, contrast) @ one_hot).view(-1, anchors, num_classes)
        masses = torch.where(masses > 0, masses, 1.0)
        inverse_temperatures = 1.0 / similarities.new_tensor(temperatures)[:, None, None]
        log_masses = masses.log() + shift * inverse_temperatures
        ctx.save_for_backward(column_classes, present, exponentials, masses)
        ctx.temperatures = temperatures
        return log_masses.masked_fill(~present, float("-inf"))

    @staticmethod
    def backward(ctx, grad_log_masses):
        column_classes, present, exponentials, masses = ctx.saved_tensors
        grad_masses = torch.where(present, grad_log_masses / masses, 0.0)
        grad_similarities, spread = None, None
        for rank, temperature in enumerate(ctx.temperatures):
            # one spread buffer for all ranks: fresh [A, K] allocations cost page faults
            spread = torch.gather(grad_masses[rank] / temperature, 1, column_classes, out=spread)
            if grad_similarities is None:
                grad_similarities = spread * exponentials[rank]
            else:
                grad_similarities.addcmul_(spread, exponentials[rank])
        return grad_similarities, None, None, None, None


def _masked_logsumexp(values: Tensor, mask: Tensor) -> Tensor:
    """Row-wise ``logsumexp`` over ``mask``; ``-inf`` (with zero gradient) for empty rows."""
    has_any = mask.any(1)
    safe = torch.where(has_any[:, None], values.masked_fill(~mask, float("-inf")), 0.0)
    return torch.where(has_any, torch.logsumexp(safe, dim=1), float("-inf"))


def _out_terms(
    similarities: Tensor,
    views: ContrastSet,
    levels: Tensor,
    log_lower: Tensor,
    temperatures: Sequence[float],
) -> Tensor:
    """Per anchor, ``sum_k 1/|P_k| sum_{p in P_k} softplus(log L_k - s_ip / t_k)``.

    ``-log(e^x / (e^x + L)) = softplus(log L - x)``, finite for any ``x`` and ``L``. Only the
    positive pairs (ranks ``1..r``) are visited, a fraction of the ``[A, K]`` matrix.
    """
    ranks = len(temperatures)
    pair_levels = levels.gather(1, views.contrast_labels.expand_as(similarities))
    pair_levels = pair_levels.scatter(1, views.self_columns[:, None], 0)
    rows, columns = torch.nonzero((pair_levels >= 1) & (pair_levels <= ranks), as_tuple=True)
    pair_rank = pair_levels[rows, columns] - 1
    inverse_temperature = 1.0 / torch.tensor(
        temperatures, dtype=similarities.dtype, device=similarities.device
    )
    logits = similarities[rows, columns] * inverse_temperature[pair_rank]
    per_pair = F.softplus(log_lower[pair_rank, rows] - logits)
    slots = pair_rank * len(similarities) + rows
    sums = similarities.new_zeros(ranks * len(similarities)).index_add(0, slots, per_pair)
    counts = torch.bincount(slots, minlength=ranks * len(similarities)).clamp(min=1)
    return (sums / counts).view(ranks, -1).sum(0)


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
