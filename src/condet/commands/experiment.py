"""``condet experiment``: a whole comparison from a protocol YAML (see :mod:`condet.experiment`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def run(config: ExperimentConfig) -> int:
    """Run the protocol and print its tables."""
    from condet.experiment import run_experiment

    out = run_experiment(config.protocol, config.out, config.data, config.smoke, config.only)
    write_experiment_outputs(out, config)
    print((out / "results.md").read_text(), end="")
    print(f"tables and report written to {out / 'report.html'}")
    return 0


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
