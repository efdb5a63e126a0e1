"""``condet pipeline``: detect, then classify crops with rejection of unknown objects."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.pipeline import PipelineConfig


def run(config: PipelineConfig) -> int:
    """Run and evaluate the open-set detector (it writes the output folder), then show the
    metrics."""
    from condet.open_set import pipeline_metrics_markdown, run_pipeline

    metrics = run_pipeline(config)
    print(pipeline_metrics_markdown(metrics), end="")
    print(f"predictions and metrics written to {config.out}")
    return 0


COMMAND = Command(
    name="pipeline",
    help="detect, then classify crops with rejection of unknown objects",
    description="An open-set detector: a detect-train run proposes boxes, a classify-train "
    "(or ood) run labels each by its nearest class prototype, or 'unknown' below the "
    "encoder's similarity threshold; evaluated on the split with VOC / COCO AP of the "
    "known classes and the rate at which unknown objects are rejected.",
    config=PipelineConfig,
    run=run,
    headline=(
        ("AP50_voc07", "VOC07 AP50 (known)"),
        ("AP", "AP (known)"),
        ("rejection_rate", "unknown rejected"),
        ("false_rejection_rate", "known rejected"),
    ),
)
