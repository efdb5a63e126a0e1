"""The record each run of an experiment leaves of what made it, and how it is compared.

``RUN/.protocol-run.json`` (``.NAME.png.protocol-run.json`` beside a single-file run's output)
holds the run's command, options, data, condet version and the results of the runs it used; a
finished run is kept while its record is what the protocol asks for now, up to the options that
do not change what a run computes (``changes_results: False`` in its command's config: progress
bars, data-loading workers, checkpoint frequency).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import condet
from condet.commands import get_command
from condet.experiment.protocol import Run
from condet.io import write_text_atomic

RECORD = ".protocol-run.json"


def record_path(run: Run) -> Path:
    """Where ``run``'s record lives: in its folder, or beside the file a single-file run writes."""
    if get_command(run.command).single_file:
        return run.folder.with_name(f".{run.folder.name}{RECORD}")
    return run.folder / RECORD


def read_record(run: Run) -> dict[str, Any] | None:
    """The record ``run`` left when it last started or finished; None if there is none."""
    path = record_path(run)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a record is written atomically, so this is not one of ours: redo the run
    return record if isinstance(record, dict) else None


def write_record(run: Run, record: dict[str, Any]) -> None:
    """Replace ``run``'s record."""
    write_text_atomic(record_path(run), json.dumps(record, indent=2))


def wanted_record(
    run: Run, synthetic: dict[str, Any] | None, records: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What ``run``'s record must say for its result to be kept."""
    return {
        "command": run.command,
        "options": run.options,
        "synthetic": synthetic,
        "condet": condet.__version__,
        # each run it uses, by the id of that run's result: a redone one has a new id
        "depends": {needed: records.get(needed, {}).get("id") for needed in run.depends},
    }


def record_changes(previous: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Why a run's record does not match what the protocol asks for now (empty: it does)."""
    changes = []
    if previous.get("command") != wanted["command"]:
        changes.append(f"command {previous.get('command')} -> {wanted['command']}")
    old, new = previous.get("options") or {}, wanted["options"]
    neutral = result_neutral_options(wanted["command"])
    changed = [
        f"{key}: {_shown(old, key)} -> {_shown(new, key)}"
        for key in dict.fromkeys([*new, *old])
        if key not in neutral and (old.get(key) != new.get(key) or (key in old) != (key in new))
    ]
    if changed:
        changes.append(f"options changed ({', '.join(changed)})")
    if previous.get("synthetic") != wanted["synthetic"]:
        changes.append(f"synthetic data {previous.get('synthetic')} -> {wanted['synthetic']}")
    if previous.get("condet") != wanted["condet"]:
        changes.append(f"made by condet {previous.get('condet')}, this is {wanted['condet']}")
    used = previous.get("depends") or {}
    for needed, result in wanted["depends"].items():
        if result is None:
            changes.append(f"run {needed} has no result")
        elif used.get(needed) != result:
            changes.append(f"run {needed} was run again since")
    return changes


def result_neutral_options(command: str) -> set[str]:
    """The options of ``command`` (as flags, without ``--``) that change how its run goes but
    not what it computes, so that a finished run is kept when only they change."""
    return {
        field.name.replace("_", "-")
        for field in dataclasses.fields(get_command(command).config)
        if field.metadata.get("changes_results") is False
    }


def _shown(options: dict[str, Any], key: str) -> str:
    if key not in options:
        return "unset"
    value = options[key]
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
