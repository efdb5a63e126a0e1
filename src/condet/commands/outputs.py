"""What every command leaves beside its results: ``config.yaml`` and ``metrics.json``.

A command whose output is a run folder writes both into it; one whose output is a single file
(``gradcam.png``) writes them beside it, named after it (``gradcam.config.yaml``,
``gradcam.metrics.json``). ``condet experiment`` reads the headline numbers of every run from
its ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from condet.io import write_text_atomic
from condet.options import write_config_yaml


def metrics_path(out: Path, single_file: bool = False) -> Path:
    """Where the ``metrics.json`` of a command writing to ``out`` lives."""
    return out.with_name(f"{out.stem}.metrics.json") if single_file else out / "metrics.json"


def config_path(out: Path, single_file: bool = False) -> Path:
    """Where the ``config.yaml`` of a command writing to ``out`` lives."""
    return out.with_name(f"{out.stem}.config.yaml") if single_file else out / "config.yaml"


def write_config(out: Path, config: Any, single_file: bool = False) -> None:
    """The resolved ``config`` as YAML, so that the run can be repeated."""
    write_config_yaml(config_path(out, single_file), config)


def write_metrics(out: Path, metrics: dict[str, Any], single_file: bool = False) -> None:
    """The run's numbers as JSON (nested dicts; an experiment picks its headline from them)."""
    path = metrics_path(out, single_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(metrics, indent=2))


def read_metrics_json(out: Path, single_file: bool = False) -> dict[str, Any] | None:
    """The ``metrics.json`` of a command's output; None when there is none."""
    path = metrics_path(out, single_file)
    return json.loads(path.read_text()) if path.is_file() else None
