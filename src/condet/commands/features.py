"""``condet evaluate-features``: k-NN, nearest-class-mean and linear-probe accuracy of frozen
backbone features."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.features import FeaturesConfig


def run(config: FeaturesConfig) -> int:
    """Evaluate (the evaluation writes the run folder), then show the results."""
    from condet.evaluation.features import features_results_markdown, run_evaluate_features

    results = run_evaluate_features(config)
    print(features_results_markdown(results), end="")
    print(f"written to {config.out}")
    return 0


COMMAND = Command(
    name="evaluate-features",
    help="k-NN, nearest-class-mean and linear-probe accuracy of frozen backbone features",
    description="Embed labelled reference and test images (or a detection data set's "
    "object crops) with a frozen backbone and report top-1 / top-3 accuracy of k-NN, "
    "nearest class mean and a linear probe, with a 2-D plot of the test embeddings.",
    config=FeaturesConfig,
    run=run,
    headline=(
        ("knn/top1", "k-NN top-1"),
        ("knn/top3", "k-NN top-3"),
        ("ncm/top1", "NCM top-1"),
        ("linear/top1", "linear top-1"),
        ("linear/top3", "linear top-3"),
    ),
)
