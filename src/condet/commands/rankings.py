"""``condet rankings derive``: class rankings for the ranked contrastive loss, from data."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.rankings import DeriveConfig

GROUP_HELP = "derive class rankings from data"
GROUP_DESCRIPTION = "Class rankings for the ranked contrastive loss."


def run(config: DeriveConfig) -> int:
    """Derive the rankings (config and ``metrics.json`` lie beside the YAML) and show them."""
    from condet.rankings.derive import run_rankings_derive

    print(run_rankings_derive(config).read_text(), end="")
    return 0


COMMAND = Command(
    name="rankings derive",
    help="rank classes by the similarity of their prototypes or a classifier's confusions",
    description="Write a rankings YAML: each class's most similar classes, by the cosine "
    "similarity of class prototypes under an encoder (--backbone/--weights, e.g. a SimCLR "
    "run, or --encoder, a classify-train run) or by the confusions of a cross-entropy "
    "classify-train run (--encoder with --by confusion).",
    config=DeriveConfig,
    run=run,
    output_suffix=".yaml",
)
