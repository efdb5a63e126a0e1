from __future__ import annotations

import pytest
import torch
from sklearn.metrics import top_k_accuracy_score

from condet.evaluation.classification import (
    knn_scores,
    linear_probe_scores,
    ncm_scores,
    topk_accuracy,
)


class TestTopkAccuracy:
    @pytest.mark.parametrize("classes", [3, 5, 20])
    def test_matches_scikit_learn(self, classes):
        generator = torch.Generator().manual_seed(classes)
        scores = torch.randn(200, classes, generator=generator)
        labels = torch.randint(classes, (200,), generator=generator)
        result = topk_accuracy(scores, labels, ks=(1, 3))
        for k in (1, 3):
            expected = top_k_accuracy_score(labels, scores, k=k, labels=list(range(classes)))
            assert result[f"top{k}"] == pytest.approx(expected)

    def test_k_above_the_number_of_classes_counts_all(self):
        result = topk_accuracy(torch.tensor([[0.2, 0.8], [0.9, 0.1]]), torch.tensor([0, 0]))
        assert result == {"top1": 0.5, "top3": 1.0}

    def test_shape_errors(self):
        with pytest.raises(ValueError, match=r"expected scores \[N, C\] and labels \[N\]"):
            topk_accuracy(torch.zeros(3, 2), torch.zeros(4))
        with pytest.raises(ValueError, match="no samples"):
            topk_accuracy(torch.zeros(0, 2), torch.zeros(0))


def test_knn_matches_a_loop_reference():
    generator = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(50, 8, generator=generator), torch.randn(7, 8, generator=generator)
    labels = torch.randint(4, (50,), generator=generator)
    scores = knn_scores(bank, labels, queries, num_classes=4, k=5, temperature=0.2, chunk=3)
    for q in range(7):
        similarity = torch.nn.functional.cosine_similarity(queries[q][None], bank)
        expected = torch.zeros(4)
        for index in similarity.argsort(descending=True)[:5]:
            expected[labels[index]] += torch.exp(similarity[index] / 0.2)
        torch.testing.assert_close(scores[q], expected)


def test_ncm_is_cosine_to_normalised_class_means():
    bank = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 1])
    scores = ncm_scores(bank, labels, torch.tensor([[1.0, 1.0]]), num_classes=3)
    torch.testing.assert_close(scores[0, :2], torch.tensor([2**-0.5, 2**-0.5]))
    assert scores[0, 2] == float("-inf")


def test_linear_probe_separates_separable_classes():
    generator = torch.Generator().manual_seed(1)
    centres = torch.eye(3) * 10
    labels = torch.arange(3).repeat(30)
    bank = centres[labels] + torch.randn(90, 3, generator=generator)
    probabilities = linear_probe_scores(bank, labels, centres, num_classes=4)
    assert probabilities.shape == (3, 4)
    assert probabilities.argmax(1).tolist() == [0, 1, 2]
    assert torch.all(probabilities[:, 3] == 0)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(3))
