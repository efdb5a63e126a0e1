"""``condet experiment``'s options: every run of a protocol into one folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


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
