"""``condet classify-train`` and ``condet ood``: an object-crop encoder, one loop for every
loss; ``ood`` is the same with classes withheld and scored as unknown."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.classify import ClassifyConfig
from condet.errors import CondetError


def run(config: ClassifyConfig) -> int:
    """Train and evaluate (the training writes the run folder), then show the results."""
    from condet.train.classify import run_classify_train
    from condet.train.trainer import is_global_zero

    run_folder = run_classify_train(config)
    if is_global_zero():
        print((run_folder / "results.md").read_text(), end="")
        print(f"encoder and results written to {run_folder}")
    return 0


def withholds_classes(config: ClassifyConfig) -> None:
    """``ood``'s config must withhold classes: they are what it scores."""
    if not config.withhold:
        raise CondetError("condet ood needs --withhold CLASS [CLASS ...]")


DESCRIPTION = (
    "Crop the data set's ground-truth boxes, train an encoder on two augmented crops per "
    "object with the chosen loss, and report nearest-class-mean, k-NN and linear-probe top-1 / "
    "top-3 on the test split; with --withhold, AUROC, AUPR and FPR@95TPR of several OOD scores "
    "for the withheld classes, and ROC curves."
)
HEADLINE = (
    ("ncm/top1", "NCM top-1"),
    ("ncm/top3", "NCM top-3"),
    ("knn/top1", "k-NN top-1"),
    ("linear/top1", "linear top-1"),
    ("ood/prototype cosine/auroc", "AUROC prototype"),
    ("ood/k-NN distance/auroc", "AUROC k-NN"),
    ("ood/Mahalanobis/auroc", "AUROC Mahalanobis"),
    ("ood/max softmax/auroc", "AUROC max softmax"),
)
COMMAND = Command(
    name="classify-train",
    help="train an object-crop encoder (SupCon, RINCE, ranked, cross-entropy)",
    description=DESCRIPTION,
    config=ClassifyConfig,
    run=run,
    headline=HEADLINE,
)
OOD_COMMAND = Command(
    name="ood",
    help="train a crop encoder without --withhold classes and score them as unknown",
    description=DESCRIPTION,
    config=ClassifyConfig,
    run=run,
    headline=HEADLINE,
    check=withholds_classes,
)
