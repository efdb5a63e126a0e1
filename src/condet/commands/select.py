"""``condet select``: choose which images to label (random, k-center greedy or TypiClust on
backbone embeddings)."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.selection import SelectConfig


def run(config: SelectConfig) -> int:
    """Choose (the selection writes the output folder), then say how many."""
    from condet.selection.choose import run_select

    metrics = run_select(config)
    print(
        f"chose {metrics['selected']} of {metrics['images']} images by {config.method}; "
        f"ids in {config.out / 'selected.txt'}"
    )
    return 0


COMMAND = Command(
    name="select",
    help="choose which images to label: random, k-center greedy or TypiClust on embeddings",
    description="Embed every image of a split with a backbone (ImageNet, a SimCLR run, a "
    "file), choose a budget of them to label by random draw, k-center greedy (core-set) or "
    "TypiClust, and write their ids (selected.txt, for detect-train --labeled-images), "
    "selection.json and selection.png (the embedding with the chosen images, and their "
    "thumbnails). Labels are never read.",
    config=SelectConfig,
    run=run,
    headline=(
        ("selected", "selected"),
        ("coverage/max_distance", "max distance to a labelled image"),
        ("coverage/mean_distance", "mean distance to a labelled image"),
    ),
)
