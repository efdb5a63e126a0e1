"""``condet demo``: the end-to-end pipeline on the embedded synthetic data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path

from condet.commands.experiment import write_experiment_outputs
from condet.commands.registry import Command


@dataclass
class DemoConfig:
    """``condet demo``: the demo protocol (``condet/protocols/demo.yaml``) into one folder."""

    out: Path = field(default=Path("runs/demo"), metadata={"help": "run folder"})
    smoke: bool = field(default=False, metadata={"help": "a few steps of every stage"})


def run(config: DemoConfig) -> int:
    """Run the demo protocol and print its tables."""
    from condet.experiment import run_experiment

    with as_file(files("condet") / "protocols" / "demo.yaml") as protocol:
        out = run_experiment(protocol, config.out, smoke=config.smoke)
    write_experiment_outputs(out, config)
    print((out / "results.md").read_text(), end="")
    print(f"open {out / 'report.html'} to see the whole run")
    return 0


COMMAND = Command(
    name="demo",
    help="run the end-to-end pipeline on the embedded synthetic data set",
    description="Generate the embedded synthetic data set and, from the ImageNet weights "
    "of EfficientNet-Lite0, continue with SimCLR on its images; fine-tune Faster R-CNN from "
    "ImageNet and from ImageNet + SimCLR, train SupCon and ranked crop encoders with the "
    "spiky family withheld as unknown (seeds 0 and 1 each), run the open-set detector, "
    "explain with Grad-CAM, and write RUN/report.html, with one sentence per comparison "
    "on what its numbers show. About 11 CPU-minutes; finished steps are kept, so a second "
    "run only rebuilds the report.",
    config=DemoConfig,
    run=run,
)
