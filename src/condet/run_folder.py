"""The run folder: the one module that writes and reads what every condet command leaves.

A command whose output is a run folder writes into it::

    RUN/config.yaml          the resolved config (flags > --config file > defaults)
    RUN/metrics.json         the run's numbers (an experiment shows its command's headline)
    RUN/environment.json     condet / torch / lightning versions, git commit, CPU and devices,
                             command
    RUN/checkpoints/         last.ckpt of a training command, and last.prev.ckpt before it
                             (:mod:`condet.checkpoints`)
    RUN/logs/                metrics.csv, the training log (earlier parts of a resumed run:
                             metrics-partN.csv), and TensorBoard events

A command whose output is a single file (``gradcam.png``) writes its config and metrics beside
it, named after it (``gradcam.config.yaml``, ``gradcam.metrics.json``).
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

import condet
from condet.checkpoints import checkpoint_files, newest_loadable, resume_checkpoint
from condet.config.training import TrainingOptions
from condet.errors import CondetError
from condet.io import write_text_atomic
from condet.options import config_to_dict
from condet.yaml_files import read_yaml

logger = logging.getLogger("condet")


def prepare_run_folder(config: TrainingOptions, command: str) -> Path:
    """Create (or, resuming, check) the run folder of a training command and write its config
    and environment.

    Resuming, the checkpoint is checked first (:func:`~condet.checkpoints.resume_checkpoint`),
    so that a run that cannot continue stops before anything in its folder changes.
    Restarting (``--restart``), or starting where only checkpoints that do not load are left,
    deletes the earlier run's checkpoints and logs first.
    """
    run = config.out
    if run.exists() and not run.is_dir():
        raise CondetError(f"--out {run} is a file; a run needs a folder there")
    if config.resume and config.restart:
        raise CondetError(
            "pass --resume to continue the run or --restart to start it again, not both"
        )
    if config.resume:
        resume_checkpoint(run)
    elif config.restart:
        clear_run(run)
    elif checkpoint_files(run):
        path, _, broken = newest_loadable(run)
        if path is not None:
            raise CondetError(
                f"{run} already holds a run; pass --resume to continue it, --restart to start "
                "it again, or choose another --out"
            )
        # Only a half-written checkpoint, which nothing can continue from: no run to protect.
        logger.warning("%s; starting the run afresh", broken[0])
        clear_run(run)
    # A later --config of this file must not delete the run again.
    write_run_info(run, replace(config, restart=False), command)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    for stale in (run / "checkpoints").glob(".*.tmp"):
        stale.unlink()  # left by a process killed while writing; the checkpoint itself is whole
    metrics = run / "logs" / "metrics.csv"
    if config.resume and metrics.is_file():
        # Lightning's CSV logger starts a fresh metrics.csv; keep the earlier part beside it.
        part = 1 + len(list(metrics.parent.glob("metrics-part*.csv")))
        metrics.rename(metrics.with_name(f"metrics-part{part}.csv"))
    return run


def clear_run(run: Path) -> None:
    """Delete what training continues from or appends to (checkpoints, logs), so that a run
    started again in ``run`` starts from nothing; the rest of the folder is written anew."""
    for folder in ("checkpoints", "logs"):
        shutil.rmtree(run / folder, ignore_errors=True)


def write_run_info(run: Path, config: Any, command: str) -> None:
    """``RUN/config.yaml`` (the resolved config) and ``RUN/environment.json``."""
    write_config(run, config)
    write_environment(run, command)


def config_path(out: Path, single_file: bool = False) -> Path:
    """Where the ``config.yaml`` of a command writing to ``out`` lives."""
    return out.with_name(f"{out.stem}.config.yaml") if single_file else out / "config.yaml"


def metrics_path(out: Path, single_file: bool = False) -> Path:
    """Where the ``metrics.json`` of a command writing to ``out`` lives."""
    return out.with_name(f"{out.stem}.metrics.json") if single_file else out / "metrics.json"


def write_config(out: Path, config: Any, single_file: bool = False) -> None:
    """The resolved ``config`` as YAML, so that the run can be repeated."""
    path = config_path(out, single_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def write_metrics(out: Path, metrics: dict[str, Any], single_file: bool = False) -> None:
    """The run's numbers as JSON (nested dicts; an experiment picks its headline from them)."""
    path = metrics_path(out, single_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(metrics, indent=2))


def read_metrics(out: Path, single_file: bool = False) -> dict[str, Any] | None:
    """The ``metrics.json`` of a command's output; None when there is none."""
    path = metrics_path(out, single_file)
    return json.loads(path.read_text()) if path.is_file() else None


def write_environment(out: Path, command: str) -> None:
    """``OUT/environment.json``: what ran ``command`` (:func:`environment`)."""
    write_text_atomic(out / "environment.json", json.dumps(environment(command), indent=2))


def resume_config_values(out: Path, action: str = "resume") -> dict[str, Any]:
    """The config a run was started with, to continue (or ``action``) it without repeating its
    flags."""
    path = config_path(out)
    if not path.is_file():
        raise CondetError(f"nothing to {action}: {path} does not exist")
    return read_yaml(path) or {}


def run_kind(folder: Path) -> str | None:
    """The command that made the run in ``folder`` (``environment.json``), or None when it
    holds no condet run."""
    try:
        command = json.loads((folder / "environment.json").read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return command if isinstance(command, str) else None


def missing_model(looked: Path, model: str, maker: str, option: str) -> str:
    """Why there is no ``model`` (detector, encoder) where ``option`` points (``looked``: the
    folder, or the file looked for): its folder holds another command's run, or none. The
    message ends with what ``option`` needs: a run folder of command ``maker``."""
    folder = looked if looked.is_dir() else looked.parent
    kind = run_kind(folder)
    if kind is not None and kind != maker:
        found = f"{folder} is a {kind} run, not a {maker} run"
    else:
        found = f"no {model} at {looked}"
    return f"{found}; {option} needs a {maker} run folder"


def read_training_log(run: Path) -> list[dict[str, str]]:
    """Every row of the run's CSV training log, the parts before each resume first.

    A run resumes from its last checkpoint, so the steps an earlier part logged after that
    checkpoint are trained (and logged) again: the later part's rows stand for them.
    """
    logs = run / "logs"
    parts = sorted(
        logs.glob("metrics-part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics-part"))
    )
    rows: list[dict[str, str]] = []
    for path in [*parts, logs / "metrics.csv"]:
        if path.is_file():
            with path.open(newline="") as handle:
                part = list(csv.DictReader(handle))
            steps = [int(row["step"]) for row in part if row.get("step")]
            if steps:
                rows = [row for row in rows if not row.get("step") or int(row["step"]) < min(steps)]
            rows += part
    return rows


def environment(command: str) -> dict[str, Any]:
    """Versions, commit, devices and command line, for the run folder."""
    # Imported here: building the command line's parser (which reads saved configs through
    # this module) must not load them.
    import lightning as L
    import torch

    return {
        "command": command,
        "argv": sys.argv,
        "condet": condet.__version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "cuda_devices": [
            torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())
        ],
        "cpu": cpu_model(),
        # the kernels torch's CPU ops dispatch to (e.g. AVX512): the same run on two CPUs with
        # different ones differs in its last digits, and this says why
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
    }


def cpu_model(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    try:
        cpuinfo = cpuinfo_path.read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the condet checkout in use (None for an installed package)."""
    source = Path(condet.__file__).resolve().parent

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")
