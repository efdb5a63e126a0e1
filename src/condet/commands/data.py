"""``condet data synth`` and ``condet data check``: make and validate data sets.

They write nothing beside the data set (no ``config.yaml`` / ``metrics.json``): a data set
folder holds only the data, and they are no protocol runs.
"""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.data import CheckConfig, SynthConfig

GROUP_HELP = "make and validate data sets"
GROUP_DESCRIPTION = "Make the synthetic data set, or validate a VOC / COCO / YOLO data set."


def run_synth(config: SynthConfig) -> int:
    """Generate the set and print its check."""
    from condet.data.check import check_dataset, format_report
    from condet.data.synthetic import generate_synthetic

    root = generate_synthetic(
        config.out, images=config.images, seed=config.seed, image_size=config.size
    )
    print(format_report(check_dataset(root)))
    return 0


def run_check(config: CheckConfig) -> int:
    """Print the check; exit code 1 when it found a problem."""
    from condet.data.check import check_dataset, format_report

    report = check_dataset(config.root, split=config.split, image_root=config.images)
    print(format_report(report))
    return 1 if report.problems else 0


SYNTH_COMMAND = Command(
    name="data synth",
    help="generate the synthetic shapes data set (VOC layout)",
    description="Generate the embedded synthetic data set: scenes of ten shape classes "
    "in three families, written in VOC layout with a rankings.yaml of the families.",
    config=SynthConfig,
    run=run_synth,
)
CHECK_COMMAND = Command(
    name="data check",
    help="validate a data set and print what it holds",
    description="Read a VOC folder, a COCO JSON or a YOLO data.yaml as training would, "
    "print images and objects per split and class, and list every problem found. "
    "Exits with 1 when there is a problem.",
    config=CheckConfig,
    run=run_check,
)
