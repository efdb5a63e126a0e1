"""``condet pipeline``: detect, then classify crops with rejection of unknown objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from condet.commands.outputs import write_config
from condet.commands.registry import Command


@dataclass
class PipelineConfig:
    """``condet pipeline``: an open-set detector from a detector run and an encoder run."""

    detector: Path = field(metadata={"help": "detect-train run folder"})
    encoder: Path = field(metadata={"help": "classify-train run folder"})
    data: Path = field(metadata={"help": "VOC folder, COCO or YOLO"})
    split: str = field(default="test", metadata={"help": "split to run on and evaluate"})
    images: Path | None = field(default=None, metadata={"help": "COCO only: the image folder"})
    out: Path = field(default=Path("runs/pipeline"), metadata={"help": "output folder"})
    score_threshold: float = field(
        default=0.3, metadata={"help": "detector score a box needs", "minimum": 0, "maximum": 1}
    )
    threshold: float | None = field(
        default=None,
        metadata={
            "help": "prototype similarity below which a box is unknown (default: the "
            "encoder's, which accepts 95%% of its known training crops)",
            "minimum": -1,
            "maximum": 1,
        },
    )
    progress: bool = field(
        default=True, metadata={"help": "show progress bars", "changes_results": False}
    )


def run(config: PipelineConfig) -> int:
    """Run and evaluate; the pipeline writes ``metrics.json`` itself."""
    from condet.pipeline import pipeline_metrics_markdown, run_pipeline

    metrics = run_pipeline(
        config.detector,
        config.encoder,
        config.data,
        config.split,
        config.out,
        images=config.images,
        score_threshold=config.score_threshold,
        threshold=config.threshold,
        progress=config.progress,
    )
    write_config(config.out, config)
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
