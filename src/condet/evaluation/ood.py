"""Out-of-distribution (unknown object) detection: scores and metrics.

Every score is "higher = more likely OOD", so one :func:`ood_metrics` serves all of them:

- :func:`max_softmax_score`: one minus the largest softmax probability of a classifier
  (Hendrycks & Gimpel 2017);
- :func:`energy_score`: the free energy ``-T logsumexp(logits / T)`` (Liu et al. 2020), higher
  when no class has much evidence;
- :func:`prototype_score`: one minus the cosine similarity to the nearest class prototype
  (the contrastive-detection report's score, before its softmax);
- :func:`knn_distance_score`: distance to the k-th nearest normalised training embedding
  (Sun et al. 2022);
- :func:`mahalanobis_score`: the smallest Mahalanobis distance to a class mean under one shared
  covariance (Lee et al. 2018).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def ood_metrics(
    scores_id: np.ndarray | Tensor, scores_ood: np.ndarray | Tensor
) -> dict[str, float]:
    """AUROC, AUPR-in, AUPR-out and FPR at 95% TPR with OOD as the positive class, and FPR at
    95% TPR with the in-distribution samples positive.

    All five are scikit-learn's: AUROC is ``roc_auc_score`` (ties count one half); AUPR is
    ``average_precision_score`` (average precision over the distinct thresholds) with OOD
    positive (``aupr_out``) or in-distribution positive and the scores negated (``aupr_in``);
    ``fpr@95tpr`` is the fraction of in-distribution samples flagged OOD at the highest
    threshold of ``roc_curve`` that flags at least 95% of the OOD samples (DESIGN.md's
    definition); ``fpr@95tpr_in`` is the fraction of OOD samples accepted at the lowest
    threshold that accepts at least 95% of the in-distribution ones, the FPR95 of the OOD
    literature (ODIN, energy, OpenOOD), to compare with papers.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    scores_id = np.asarray(scores_id, np.float64).ravel()
    scores_ood = np.asarray(scores_ood, np.float64).ravel()
    if not len(scores_id) or not len(scores_ood):
        raise ValueError("OOD metrics need in-distribution and OOD samples")
    scores = np.concatenate([scores_id, scores_ood])
    is_ood = np.concatenate([np.zeros(len(scores_id), bool), np.ones(len(scores_ood), bool)])
    false_positive_rate, true_positive_rate, _ = roc_curve(is_ood, scores, drop_intermediate=False)
    ood_accepted, known_accepted, _ = roc_curve(~is_ood, -scores, drop_intermediate=False)
    return {
        "auroc": float(roc_auc_score(is_ood, scores)),
        "aupr_in": float(average_precision_score(~is_ood, -scores)),
        "aupr_out": float(average_precision_score(is_ood, scores)),
        "fpr@95tpr": float(false_positive_rate[np.argmax(true_positive_rate >= 0.95)]),
        "fpr@95tpr_in": float(ood_accepted[np.argmax(known_accepted >= 0.95)]),
    }


def max_softmax_score(logits: Tensor) -> Tensor:
    """``1 - max softmax``: low confidence is OOD."""
    return 1 - logits.float().softmax(dim=1).amax(dim=1)


def energy_score(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``-T logsumexp(logits / T)`` (the free energy): low evidence for every class is OOD."""
    return -temperature * torch.logsumexp(logits.float() / temperature, dim=1)


def class_prototypes(embeddings: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Normalised mean of each class's normalised embeddings ``[C, D]`` (zero for absent ones)."""
    normalised = F.normalize(embeddings.float(), dim=1)
    sums = torch.zeros(num_classes, normalised.shape[1]).index_add_(0, labels.long(), normalised)
    return F.normalize(sums, dim=1)


def acceptance_threshold(
    embeddings: Tensor, labels: Tensor, prototypes: Tensor, accept: float = 0.95
) -> float:
    """The cosine similarity to their own class prototype that ``accept`` of the embeddings
    reach: a rejection threshold that keeps that share of known objects."""
    own = (F.normalize(embeddings.float(), dim=1) * prototypes[labels.long()]).sum(1)
    return float(torch.quantile(own, 1 - accept))


def prototype_score(embeddings: Tensor, prototypes: Tensor, known: Tensor | None = None) -> Tensor:
    """``1 - max cosine similarity`` to the prototypes of the ``known`` classes."""
    similarity = F.normalize(embeddings.float(), dim=1) @ prototypes.T
    if known is not None:
        similarity = similarity[:, known]
    return 1 - similarity.amax(dim=1)


def knn_distance_score(embeddings: Tensor, bank: Tensor, k: int = 50) -> Tensor:
    """Euclidean distance of normalised embeddings to their k-th nearest normalised bank sample."""
    queries = F.normalize(embeddings.float(), dim=1)
    references = F.normalize(bank.float(), dim=1)
    distances = torch.cdist(queries, references)
    return distances.topk(min(k, len(references)), dim=1, largest=False).values[:, -1]


def mahalanobis_score(embeddings: Tensor, bank: Tensor, bank_labels: Tensor) -> Tensor:
    """Smallest Mahalanobis distance to a class mean, one covariance shared by all classes."""
    features, queries = bank.double(), embeddings.double()
    labels = bank_labels.long()
    classes = labels.unique()
    means = torch.stack([features[labels == c].mean(0) for c in classes])
    centred = features - means[torch.searchsorted(classes, labels)]
    covariance = centred.T @ centred / len(features)
    precision = torch.linalg.pinv(covariance, hermitian=True)
    differences = queries[:, None, :] - means[None, :, :]
    distances = torch.einsum("qcd,de,qce->qc", differences, precision, differences)
    return distances.amin(dim=1).float()


def plot_roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str = "OOD ROC"
) -> Path:
    """ROC curves of several scores (name -> (in-distribution scores, OOD scores)) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axes = plt.subplots(figsize=(6, 6), dpi=110)
    for name, (scores_id, scores_ood) in curves.items():
        scores = np.concatenate([scores_id, scores_ood])
        truth = np.concatenate([np.zeros(len(scores_id)), np.ones(len(scores_ood))])
        false_positive_rate, true_positive_rate, _ = roc_curve(truth, scores)
        auroc = roc_auc_score(truth, scores)
        axes.plot(false_positive_rate, true_positive_rate, label=f"{name} (AUROC {auroc:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("false positive rate (known flagged unknown)")
    axes.set_ylabel("true positive rate (unknown flagged)")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
