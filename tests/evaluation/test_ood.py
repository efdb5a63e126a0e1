from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from condet.evaluation.ood import (
    class_prototypes,
    energy_score,
    knn_distance_score,
    mahalanobis_score,
    max_softmax_score,
    ood_metrics,
    prototype_score,
)


def sklearn_metrics(scores_id, scores_ood):
    scores = np.concatenate([scores_id, scores_ood])
    is_ood = np.concatenate([np.zeros(len(scores_id)), np.ones(len(scores_ood))])
    fpr, tpr, _ = roc_curve(is_ood, scores)
    return {
        "auroc": roc_auc_score(is_ood, scores),
        "aupr_in": average_precision_score(1 - is_ood, -scores),
        "aupr_out": average_precision_score(is_ood, scores),
        "fpr@95tpr": fpr[np.searchsorted(tpr, 0.95)],
        "fpr@95tpr_in": ood_accepted_when_95_percent_known_are(scores_id, scores_ood),
    }


def ood_accepted_when_95_percent_known_are(scores_id, scores_ood):
    """The literature's FPR95, read directly: accept scores up to a threshold, raised one
    distinct score at a time until 95% of the known samples are accepted; the share of OOD
    samples accepted there."""
    for threshold in sorted(set(scores_id) | set(scores_ood)):
        if np.mean(scores_id <= threshold) >= 0.95:
            return np.mean(scores_ood <= threshold)
    raise AssertionError("unreachable: the largest score accepts every sample")


@pytest.mark.parametrize("seed", range(6))
def test_ood_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    scores_id = rng.normal(0, 1, rng.integers(5, 300))
    scores_ood = rng.normal(rng.uniform(-0.5, 2), 1, rng.integers(5, 200))
    if seed % 2:  # coarse scores: many ties
        scores_id, scores_ood = np.round(scores_id, 1), np.round(scores_ood, 1)
    result = ood_metrics(scores_id, scores_ood)
    expected = sklearn_metrics(scores_id, scores_ood)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


def test_ood_metrics_known_cases():
    perfect = ood_metrics([0.1, 0.2, 0.3], [0.8, 0.9])
    assert perfect == {
        "auroc": 1.0,
        "aupr_in": 1.0,
        "aupr_out": 1.0,
        "fpr@95tpr": 0.0,
        "fpr@95tpr_in": 0.0,
    }
    # 20 known samples, the highest at 1.0: 95% of them are accepted up to 0.95, and so are
    # the two OOD samples at 0.5 of four
    flipped = ood_metrics(np.linspace(0.05, 1.0, 20), [0.5, 0.5, 2.0, 3.0])
    assert flipped["fpr@95tpr_in"] == 0.5
    assert ood_metrics([0.5, 0.5], [0.5, 0.5])["auroc"] == 0.5
    with pytest.raises(ValueError, match="need in-distribution and OOD samples"):
        ood_metrics([], [1.0])


def test_softmax_and_energy_scores():
    logits = torch.tensor([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    scores = max_softmax_score(logits)
    assert scores[0] < 1e-3 and scores[1] == pytest.approx(2 / 3)
    energy = energy_score(logits)
    torch.testing.assert_close(energy, -torch.logsumexp(logits, 1))
    assert energy[0] < energy[1]  # a confident sample has lower energy


def test_prototype_and_knn_scores():
    bank = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    prototypes = class_prototypes(bank, labels, 3)
    queries = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    torch.testing.assert_close(
        prototype_score(queries, prototypes, torch.tensor([0, 1])),
        torch.tensor([0.0, 1 - 2**-0.5, 1.0]),
    )
    distances = knn_distance_score(queries, bank, k=2)
    normalised_queries = torch.nn.functional.normalize(queries, dim=1)
    normalised_bank = torch.nn.functional.normalize(bank, dim=1)
    for q in range(3):
        expected = (normalised_queries[q] - normalised_bank).norm(dim=1).sort().values[1]
        torch.testing.assert_close(distances[q], expected)


def test_mahalanobis_matches_the_formula():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(60, 3)) * [1.0, 3.0, 0.5]
    labels = np.repeat([0, 1, 2], 20)
    bank[labels == 1] += 4
    queries = rng.normal(size=(5, 3))
    means = np.stack([bank[labels == c].mean(0) for c in range(3)])
    centred = bank - means[labels]
    precision = np.linalg.pinv(centred.T @ centred / len(bank))
    expected = [min((q - m) @ precision @ (q - m) for m in means) for q in queries]
    result = mahalanobis_score(torch.tensor(queries), torch.tensor(bank), torch.tensor(labels))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)
