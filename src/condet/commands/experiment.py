"""``condet experiment``: a whole comparison from a protocol YAML (see :mod:`condet.experiment`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from condet.commands.outputs import write_config, write_metrics
from condet.commands.registry import Command


@dataclass
class ExperimentConfig:
    """``condet experiment``: every run of a protocol into one folder, then the tables."""

    protocol: Path = field(metadata={"help": "protocol YAML", "positional": True})
    data: str | None = field(
        default=None, metadata={"help": "data set replacing the protocol's {data}"}
    )
    out: Path | None = field(
        default=None, metadata={"help": "experiment folder (default runs/NAME)"}
    )
    smoke: bool = field(
        default=False,
        metadata={
            "help": "a few steps of every run, to check a protocol (finished runs keep no "
            "checkpoints/)"
        },
    )
    only: list[str] | None = field(
        default=None,
        metadata={
            "help": "run only these runs (protocol names, with or without -sN); the tables "
            "still show every kept result",
            "metavar": "NAME",
        },
    )
    jobs: int = field(
        default=1,
        metadata={
            "help": "runs side by side on this machine, each with cores / JOBS threads and its "
            "log in OUT/logs/ (1: one after the other, in this process)",
            "minimum": 1,
        },
    )
    launcher: Literal["local", "slurm"] = field(
        default="local",
        metadata={"help": "local: this machine; slurm: one SLURM job a run (submitit)"},
    )
    slurm_partition: str | None = field(
        default=None, metadata={"help": "SLURM partition (default: the cluster's)"}
    )
    slurm_gpus_per_run: int = field(
        default=1, metadata={"help": "GPUs of a SLURM job", "minimum": 0}
    )
    slurm_cpus_per_run: int = field(
        default=8, metadata={"help": "CPU cores of a SLURM job", "minimum": 1}
    )
    slurm_time_limit: int = field(
        default=240,
        metadata={"help": "minutes a SLURM job may run", "metavar": "MINUTES", "minimum": 1},
    )


def run(config: ExperimentConfig) -> int:
    """Run the protocol and print its tables."""
    from condet.experiment import run_experiment

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
    rows = json.loads((out / "results.json").read_text())
    cells = {row["run"]: {k: v for k, v in row.items() if isinstance(v, dict)} for row in rows}
    write_config(out, config)
    write_metrics(out, cells)


COMMAND = Command(
    name="experiment",
    help="run a whole comparison from a protocol YAML, with tables and report.html",
    description="Run every command of an experiment protocol (configs/experiments/*.yaml) "
    "into one folder, then write results.md / .csv / .json and a self-contained "
    "report.html. A finished run is kept while its options and condet version are those "
    "the protocol asks for, and run again otherwise; an interrupted run continues from its "
    "last checkpoint.",
    config=ExperimentConfig,
    run=run,
)
