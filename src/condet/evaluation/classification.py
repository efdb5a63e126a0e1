"""Classification metrics and frozen-feature classifiers: k-NN, nearest class mean, linear probe.

All classifiers return class *scores* ``[N, C]`` (higher is more likely) so that one
:func:`topk_accuracy` gives their top-1 and top-3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def topk_accuracy(
    logits_or_scores: Tensor, labels: Tensor, ks: Sequence[int] = (1, 3)
) -> dict[str, float]:
    """Fraction of samples whose label is among their ``k`` highest scores, for each ``k``.

    Args:
        logits_or_scores: ``[N, C]``.
        labels: LongTensor ``[N]``.
        ks: the ``k`` values; a ``k`` above ``C`` counts every sample as right.

    Returns:
        ``{"top1": ..., "top3": ...}``.

    >>> topk_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]), ks=(1,))
    {'top1': 0.5}
    """
    scores = torch.as_tensor(logits_or_scores)
    labels = torch.as_tensor(labels).long()
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(
            f"expected scores [N, C] and labels [N], got {tuple(scores.shape)}, "
            f"{tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError("no samples to score")
    largest = min(max(ks), scores.shape[1])
    ranked = scores.topk(largest, dim=1).indices
    hits = ranked == labels[:, None]
    return {f"top{k}": hits[:, : min(k, largest)].any(1).float().mean().item() for k in ks}


def knn_scores(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> Tensor:
    """Weighted k-NN votes on cosine similarity (Wu et al. 2018, the SSL benchmark protocol).

    Each query's ``k`` most similar bank samples vote for their class with weight
    ``exp(similarity / temperature)``; the votes are the scores ``[Q, C]``.
    """
    bank = F.normalize(bank.float(), dim=1)
    bank_labels = bank_labels.long()
    k = min(k, len(bank))
    scores = []
    for start in range(0, len(queries), chunk):
        query = F.normalize(queries[start : start + chunk].float(), dim=1)
        similarity, index = (query @ bank.T).topk(k, dim=1)
        weights = (similarity / temperature).exp()
        votes = torch.zeros(len(query), num_classes)
        scores.append(votes.scatter_add_(1, bank_labels[index], weights))
    return torch.cat(scores)


def ncm_scores(bank: Tensor, bank_labels: Tensor, queries: Tensor, num_classes: int) -> Tensor:
    """Cosine similarity to each class's mean normalised embedding (nearest class mean).

    The contrastive-detection report's accuracy protocol; classes absent from the bank score
    ``-inf``.
    """
    bank = F.normalize(bank.float(), dim=1)
    bank_labels = bank_labels.long()
    sums = torch.zeros(num_classes, bank.shape[1]).index_add_(0, bank_labels, bank)
    present = torch.bincount(bank_labels, minlength=num_classes) > 0
    prototypes = F.normalize(sums, dim=1)
    scores = F.normalize(queries.float(), dim=1) @ prototypes.T
    return scores.masked_fill(~present, float("-inf"))


def linear_probe_scores(
    bank: Tensor, bank_labels: Tensor, queries: Tensor, num_classes: int, seed: int = 0
) -> Tensor:
    """Class probabilities of a multinomial logistic regression fit on standardised features.

    scikit-learn's L-BFGS logistic regression, the usual linear probe on frozen features.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(bank.float().numpy(), bank_labels.numpy())
    probabilities = np.zeros((len(queries), num_classes), dtype=np.float32)
    probabilities[:, probe.classes_] = probe.predict_proba(queries.float().numpy())
    return torch.from_numpy(probabilities)
