"""The two commands that run protocols: ``condet experiment`` and ``condet demo``.

They sit with the experiment, above :mod:`condet.commands`, whose commands a protocol runs:
the experiment looks the commands up in :data:`condet.commands.COMMANDS`, and these two call
the experiment, so the imports run one way.
"""

from __future__ import annotations

import json
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from condet.commands.registry import Command
from condet.config.demo import DemoConfig
from condet.config.experiment import ExperimentConfig


def run_protocol(config: ExperimentConfig) -> int:
    """Run the protocol and print its tables."""
    from condet.experiment.runner import run_experiment

    out = run_experiment(
        config.protocol,
        config.out,
        config.data,
        config.smoke,
        config.only,
        launcher=make_launcher(config),
    )
    write_experiment_outputs(out, config)
    print((out / "results.md").read_text(), end="")
    print(f"tables and report written to {out / 'report.html'}")
    return 0


def run_demo(config: DemoConfig) -> int:
    """Run the demo protocol and print its tables."""
    from condet.experiment.runner import run_experiment

    with as_file(files("condet") / "protocols" / "demo.yaml") as protocol:
        out = run_experiment(protocol, config.out, smoke=config.smoke)
    write_experiment_outputs(out, config)
    print((out / "results.md").read_text(), end="")
    print(f"open {out / 'report.html'} to see the whole run")
    return 0


def make_launcher(config: ExperimentConfig) -> Any:
    """The launcher ``--jobs`` / ``--launcher`` ask for; None runs in this process."""
    from condet.experiment.launch import ExperimentCall, ProcessLauncher, slurm_launcher
    from condet.experiment.runner import default_folder

    if config.launcher == "local" and config.jobs == 1:
        return None
    out = config.out or default_folder(config.protocol, config.smoke)
    call = ExperimentCall(config.protocol, out, config.data, config.smoke)
    if config.launcher == "slurm":
        return slurm_launcher(
            call,
            config.slurm_partition,
            config.slurm_gpus_per_run,
            config.slurm_cpus_per_run,
            config.slurm_time_limit,
        )
    return ProcessLauncher(call, config.jobs)


def write_experiment_outputs(out: Path, config: Any) -> None:
    """``config.yaml`` and ``metrics.json`` of an experiment folder: the headline cells of every
    run of ``results.json``, by run name."""
    from condet.run_folder import write_config, write_metrics

    rows = json.loads((out / "results.json").read_text())
    cells = {row["run"]: {k: v for k, v in row.items() if isinstance(v, dict)} for row in rows}
    write_config(out, config)
    write_metrics(out, cells)


EXPERIMENT_COMMAND = Command(
    name="experiment",
    help="run a whole comparison from a protocol YAML, with tables and report.html",
    description="Run every command of an experiment protocol (configs/experiments/*.yaml) "
    "into one folder, then write results.md / .csv / .json and a self-contained "
    "report.html. A finished run is kept while its options and condet version are those "
    "the protocol asks for, and run again otherwise; an interrupted run continues from its "
    "last checkpoint.",
    config=ExperimentConfig,
    run=run_protocol,
)
DEMO_COMMAND = Command(
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
    run=run_demo,
)
