"""Evaluating a crop encoder: embeddings, PreciseBN, accuracy and OOD metrics, the table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from condet.data.normalize import Normalize
from condet.evaluation.encoders import (
    crop_mean_std,
    encode,
    encoder_results_markdown,
    evaluate_encoder,
    known_bank,
    plot_test_embeddings,
    recompute_batchnorm_statistics,
)
from condet.models.encoder import CropEncoder


def crops(count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, 32, 32), generator=generator, dtype=torch.uint8)


def crop_set(count: int, labels: list[int], seed: int = 0) -> SimpleNamespace:
    """What evaluation reads of an ObjectCropDataset: crops, labels and class names."""
    return SimpleNamespace(
        crops=crops(count, seed), labels=torch.tensor(labels), classes=["a", "b", "c"]
    )


@pytest.fixture(scope="module")
def encoder() -> CropEncoder:
    torch.manual_seed(0)
    return CropEncoder("mobilenet_v3_small", "random", 3, contrastive=False, small_input_stem=False)


def test_crop_mean_std_is_per_channel_in_unit_pixels():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    images[:, 1] = 255
    mean, std = crop_mean_std(images)
    assert mean == pytest.approx([0.0, 1.0, 0.0]) and std == pytest.approx([0.0, 0.0, 0.0])


def test_encode_does_not_depend_on_the_batch_size_and_keeps_the_mode(encoder):
    encoder.train()
    images = crops(10)
    whole = encode(encoder, images, Normalize())
    assert encoder.training
    assert torch.allclose(whole, encode(encoder, images, Normalize(), batch_size=3), atol=1e-5)
    assert encode(encoder, images, Normalize(), logits=True).shape == (10, 3)


def test_recompute_batchnorm_statistics_replaces_the_running_statistics(encoder):
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = norms[0].running_mean.clone()
    recompute_batchnorm_statistics(encoder, crops(12), Normalize(), batch_size=5)
    assert not torch.equal(before, norms[0].running_mean)
    assert norms[0].momentum is not None  # update_bn puts the momentum back


def test_known_bank_keeps_only_known_classes(encoder):
    train = crop_set(6, [0, 1, 2, 0, 1, 2])
    bank, labels = known_bank(encoder, train, [0, 1], Normalize())
    assert labels.tolist() == [0, 1, 0, 1] and len(bank) == 4


def test_evaluate_encoder_scores_known_classes_and_withheld_ones(encoder, tmp_path):
    train = crop_set(12, [0, 1] * 6)
    test = crop_set(9, [0, 1, 2] * 3, seed=1)
    bank, labels = known_bank(encoder, train, [0, 1], Normalize())
    results = evaluate_encoder(encoder, bank, labels, test, [0, 1], Normalize(), tmp_path, k=3)
    assert results["train_crops"] == 12 and results["test_crops"] == 6
    assert results["ood_crops"] == 3 and (tmp_path / "roc.png").is_file()
    assert (tmp_path / "embedding.png").is_file()
    for name in ("ncm", "knn", "linear"):
        assert 0 <= results[name]["top1"] <= results[name]["top3"] <= 1
    assert set(results["ood"]) == {
        "prototype cosine",
        "k-NN distance",
        "Mahalanobis",
        "max softmax",
        "energy",
    }
    assert "ood_auroc_by_class" not in results  # one withheld class: the pooled AUROC is its
    table = encoder_results_markdown(results)
    assert "| ncm |" in table and "| energy |" in table and table.endswith("\n")


def test_each_withheld_class_is_scored_against_the_known_crops_alone(encoder):
    train = crop_set(12, [0, 1] * 6)
    test = SimpleNamespace(
        crops=crops(12, seed=1),
        labels=torch.tensor([0, 1, 2, 3] * 3),
        classes=["a", "b", "c", "d"],
    )
    bank, labels = known_bank(encoder, train, [0, 1], Normalize())
    results = evaluate_encoder(encoder, bank, labels, test, [0, 1], Normalize(), k=3)
    for name, label in (("c", 2), ("d", 3)):
        alone = SimpleNamespace(
            crops=test.crops[torch.isin(test.labels, torch.tensor([0, 1, label]))],
            labels=torch.tensor([0, 1, 2] * 3),
            classes=["a", "b", name],
        )
        pooled = evaluate_encoder(encoder, bank, labels, alone, [0, 1], Normalize(), k=3)["ood"]
        assert results["ood_auroc_by_class"][name] == pytest.approx(
            {score: metrics["auroc"] for score, metrics in pooled.items()}
        )
    table = encoder_results_markdown(results)
    assert "| withheld class | AUROC prototype cosine |" in table and "\n| d | " in table


def test_plot_test_embeddings_names_the_withheld_classes(monkeypatch, tmp_path):
    plotted = {}

    def plot_embeddings(embeddings, labels, classes, path, method, title, marked):
        plotted.update(classes=classes, method=method, labels=labels.tolist(), marked=marked)
        return path

    monkeypatch.setattr("condet.evaluation.encoders.plot_embeddings", plot_embeddings)
    test = crop_set(6, [0, 2, 1, 0, 2, 1])
    plot_test_embeddings(torch.zeros(6, 4), test, [0, 2], tmp_path / "embedding.png")
    assert plotted == {
        "classes": ["a", "b (withheld)", "c"],
        "method": "tsne",
        "labels": [0, 2, 1, 0, 2, 1],
        "marked": [1],
    }


def test_plot_test_embeddings_maps_at_most_a_few_hundred_crops_a_class(monkeypatch, tmp_path):
    plotted = {}

    def plot_embeddings(embeddings, labels, classes, path, method, title, marked):
        plotted.update(rows=len(embeddings), labels=labels.tolist())
        return path

    monkeypatch.setattr("condet.evaluation.encoders.plot_embeddings", plot_embeddings)
    monkeypatch.setattr("condet.evaluation.encoders.MAP_CROPS_PER_CLASS", 2)
    test = crop_set(7, [0, 0, 0, 1, 1, 1, 2])
    plot_test_embeddings(torch.arange(7.0)[:, None], test, [0, 1], tmp_path / "embedding.png")
    assert plotted == {"rows": 5, "labels": [0, 0, 1, 1, 2]}


def test_plot_test_embeddings_draws_no_map_of_fewer_than_five_crops(tmp_path):
    test = crop_set(4, [0, 1, 2, 0])
    path = plot_test_embeddings(torch.randn(4, 8), test, [0, 1], tmp_path / "embedding.png")
    assert path is None and not (tmp_path / "embedding.png").exists()


def test_encoder_results_markdown_without_withheld_classes_has_one_table():
    scores = {"top1": 0.5, "top3": 1.0}
    table = encoder_results_markdown({"ncm": scores, "knn": scores, "linear": scores})
    assert table.splitlines() == [
        "| classifier | top-1 | top-3 |",
        "|---|---|---|",
        "| ncm | 0.500 | 1.000 |",
        "| knn | 0.500 | 1.000 |",
        "| linear | 0.500 | 1.000 |",
    ]
