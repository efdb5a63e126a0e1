"""Evaluating a crop encoder on the test crops: known-class accuracy and open-set rejection.

- classification of known classes by nearest class mean (the report's protocol), k-NN and a
  linear probe, top-1 and top-3;
- with withheld classes, how well they are told apart from the known ones (AUROC, AUPR,
  FPR@95TPR) by prototype cosine, k-NN distance, Mahalanobis distance and, for a cross-entropy
  encoder, max softmax and energy, with all ROC curves in one plot;
- a t-SNE map of the test embeddings, the withheld classes named as such.

Also what inference with an encoder needs beside it: test-time embeddings, the bank of known
training embeddings, the crops' normalisation and exact BatchNorm statistics (PreciseBN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import update_bn

from condet.data.crops import ObjectCropDataset
from condet.data.normalize import Normalize
from condet.evaluation.classification import (
    knn_scores,
    linear_probe_scores,
    ncm_scores,
    topk_accuracy,
)
from condet.evaluation.features import first_per_class, plot_embeddings
from condet.evaluation.ood import (
    class_prototypes,
    energy_score,
    knn_distance_score,
    mahalanobis_score,
    max_softmax_score,
    ood_metrics,
    plot_roc_curves,
    prototype_score,
)
from condet.models.encoder import CropEncoder


def crop_mean_std(crops: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 crops, in [0, 1] units."""
    pixels = crops.float().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    return pixels.mean(1).tolist(), pixels.std(1).tolist()


@torch.no_grad()
def recompute_batchnorm_statistics(
    encoder: CropEncoder, crops: Tensor, normalize: Normalize, batch_size: int = 256
) -> None:
    """Replace the running BatchNorm statistics by exact ones over the training crops.

    Running averages lag behind weights that still move, and torchvision's MobileNet and
    EfficientNet average with momentum 0.01; after a short run the evaluation-mode network
    then sees other statistics than it trained with (train accuracy 0.12 in eval mode against
    0.88 in training mode, 200 AdamW steps on the synthetic crops). Recomputing them at the
    end is detectron2's PreciseBN, here over the un-augmented crops the evaluation sees.
    """
    was_training = encoder.training
    device = next(encoder.parameters()).device
    batches = (
        normalize.to(device)(crops[start : start + batch_size].to(device))
        for start in range(0, len(crops), batch_size)
    )
    update_bn(batches, encoder)
    encoder.train(was_training)


@torch.inference_mode()
def encode(
    encoder: CropEncoder,
    crops: Tensor,
    normalize: Normalize,
    batch_size: int = 512,
    logits: bool = False,
) -> Tensor:
    """Test-time embeddings (or, with ``logits``, head outputs) of uint8 crops."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    outputs = []
    for start in range(0, len(crops), batch_size):
        images = normalize.to(device)(crops[start : start + batch_size].to(device))
        outputs.append((encoder(images) if logits else encoder.embed(images)).float().cpu())
    encoder.train(was_training)
    return torch.cat(outputs)


def known_bank(
    encoder: CropEncoder, train: ObjectCropDataset, known: list[int], normalize: Normalize
) -> tuple[Tensor, Tensor]:
    """Embeddings ``[M, D]`` and labels ``[M]`` of the known-class training crops."""
    is_known = torch.isin(train.labels, torch.tensor(known))
    return encode(encoder, train.crops[is_known], normalize), train.labels[is_known]


def evaluate_encoder(
    encoder: CropEncoder,
    bank: Tensor,
    bank_labels: Tensor,
    test: ObjectCropDataset,
    known: list[int],
    normalize: Normalize,
    run: Path | None = None,
    k: int = 50,
) -> dict[str, Any]:
    """Known-class accuracy (NCM, k-NN, linear probe) and, with withheld classes, OOD metrics,
    against ``bank``, the embeddings of the known training crops (:func:`known_bank`)."""
    known_tensor = torch.tensor(known)
    test_known = torch.isin(test.labels, known_tensor)
    queries = encode(encoder, test.crops, normalize)
    num_classes = len(test.classes)
    known_queries, known_labels = queries[test_known], test.labels[test_known]
    results: dict[str, Any] = {
        "train_crops": len(bank),
        "test_crops": int(test_known.sum()),
    }
    restrict = torch.full((num_classes,), float("-inf"))
    restrict[known_tensor] = 0.0  # only known classes can be predicted
    scores = {
        "ncm": ncm_scores(bank, bank_labels, known_queries, num_classes),
        "knn": knn_scores(bank, bank_labels, known_queries, num_classes, k=k),
        "linear": linear_probe_scores(bank, bank_labels, known_queries, num_classes).log(),
    }
    for name, value in scores.items():
        results[name] = topk_accuracy(value + restrict, known_labels)
    if run is not None:
        plot_test_embeddings(queries, test, known, run / "embedding.png")
    if test_known.all():
        return results
    prototypes = class_prototypes(bank, bank_labels, num_classes)
    ood_scores = {
        "prototype cosine": prototype_score(queries, prototypes, known_tensor),
        "k-NN distance": knn_distance_score(queries, bank, k=k),
        "Mahalanobis": mahalanobis_score(queries, bank, bank_labels),
    }
    if not encoder.contrastive:
        logits = encode(encoder, test.crops, normalize, logits=True)
        ood_scores |= {"max softmax": max_softmax_score(logits), "energy": energy_score(logits)}
    curves = {
        name: (value[test_known].numpy(), value[~test_known].numpy())
        for name, value in ood_scores.items()
    }
    results["ood"] = {name: ood_metrics(*pair) for name, pair in curves.items()}
    results["ood_crops"] = int((~test_known).sum())
    withheld = test.labels[~test_known].unique().tolist()
    if len(withheld) > 1:
        # one withheld class can be easy to reject and another, with a sibling among the
        # known classes, hard: the pooled AUROC hides which
        results["ood_auroc_by_class"] = {
            test.classes[label]: {
                name: ood_metrics(value[test_known].numpy(), value[test.labels == label].numpy())[
                    "auroc"
                ]
                for name, value in ood_scores.items()
            }
            for label in withheld
        }
    if run is not None:
        plot_roc_curves(curves, run / "roc.png", title="known vs withheld test crops")
    return results


MAP_CROPS_PER_CLASS = 200
"""Test crops a class contributes to the t-SNE map: enough to show its shape, few enough that
VOC2007's 15 000 test crops map in seconds."""


def plot_test_embeddings(
    queries: Tensor, test: ObjectCropDataset, known: list[int], path: Path
) -> Path | None:
    """t-SNE of the test crops' embeddings ``queries`` ``[N, D]`` (the first
    ``MAP_CROPS_PER_CLASS`` of each class), one colour a known class, the other classes present
    (the withheld ones: ``load_splits`` removes dropped classes from the test crops) dark
    crosses labelled "(withheld)". Fewer than five crops make no map: returns None."""
    chosen = first_per_class(test.labels.tolist(), MAP_CROPS_PER_CLASS)
    if len(chosen) < 5:
        return None
    not_known = [index for index in range(len(test.classes)) if index not in known]
    names = [
        f"{name} (withheld)" if index in not_known else name
        for index, name in enumerate(test.classes)
    ]
    return plot_embeddings(
        queries[chosen],
        test.labels[chosen],
        names,
        path,
        method="tsne",
        title="test crops' embeddings",
        marked=not_known,
    )


def encoder_results_markdown(results: dict[str, Any]) -> str:
    """:func:`evaluate_encoder`'s accuracy and OOD tables in Markdown."""
    lines = ["| classifier | top-1 | top-3 |", "|---|---|---|"]
    for name in ("ncm", "knn", "linear"):
        lines.append(f"| {name} | {results[name]['top1']:.3f} | {results[name]['top3']:.3f} |")
    if "ood" in results:
        lines += [
            "",
            "| OOD score | AUROC | AUPR-in | AUPR-out | FPR@95TPR | FPR@95TPR-in |",
            "|---|---|---|---|---|---|",
        ]
        for name, metrics in results["ood"].items():
            # runs scored before FPR@95TPR-in was added lack it
            in_positive = metrics.get("fpr@95tpr_in")
            lines.append(
                f"| {name} | {metrics['auroc']:.3f} | {metrics['aupr_in']:.3f} | "
                f"{metrics['aupr_out']:.3f} | {metrics['fpr@95tpr']:.3f} | "
                + ("-" if in_positive is None else f"{in_positive:.3f}")
                + " |"
            )
    if "ood_auroc_by_class" in results:
        scores = list(results["ood"])
        lines += ["", "| withheld class | " + " | ".join(f"AUROC {name}" for name in scores) + " |"]
        lines.append("|---|" + "---|" * len(scores))
        for name, aurocs in results["ood_auroc_by_class"].items():
            cells = " | ".join(f"{aurocs[score]:.3f}" for score in scores)
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"
