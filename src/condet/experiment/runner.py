"""Running a protocol: each run's command called directly with its config, what is finished
kept, what was interrupted continued, and the tables and report written at the end."""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from condet.checkpoints import newest_loadable
from condet.commands import get_command
from condet.data.synthetic import generate_synthetic
from condet.errors import CondetError
from condet.experiment.launch import Launcher, launch_runs
from condet.experiment.protocol import (
    Run,
    expand_environment,
    load_protocol,
    plan_runs,
    select_runs,
)
from condet.experiment.records import (
    read_record,
    record_changes,
    record_path,
    wanted_record,
    write_record,
)
from condet.experiment.report import write_report
from condet.experiment.tables import comparison_sentences, markdown_tables, summary_rows, write_csv
from condet.io import write_text_atomic
from condet.run_folder import config_path, metrics_path, read_metrics, write_environment

logger = logging.getLogger("condet")


def run_experiment(
    config: Path,
    out: Path | None = None,
    data: str | None = None,
    smoke: bool = False,
    only: Sequence[str] | None = None,
    launcher: Launcher | None = None,
    summary: bool = True,
) -> Path:
    """Run the commands of protocol ``config`` and write the tables and ``report.html``.

    A finished run is kept while its record matches what the protocol asks for now, an
    interrupted one continues from its last checkpoint, and any other is run again from the
    start (see :mod:`condet.experiment`). With ``only`` (protocol run names, with or without
    the ``-sN`` seed suffix), just those runs are run; the tables still hold every kept result.
    With a ``launcher`` (:mod:`condet.experiment.launch`) the runs to do are run side by side,
    each as ``condet experiment --only RUN``, and this process then writes the tables. Without
    ``summary`` only the runs are run: a launcher's job leaves the protocol's files (tables,
    report, ``protocol.yaml``, ``environment.json``) to the process that launched it.
    """
    protocol = load_protocol(config)
    name = protocol.get("name", config.stem)
    out = out or default_folder(config, smoke)
    out.mkdir(parents=True, exist_ok=True)
    resolved_data = data
    synthetic = None
    if data is None and protocol.get("synthetic"):
        synthetic = protocol["synthetic"] if isinstance(protocol["synthetic"], dict) else {}
        if smoke:
            synthetic = synthetic | (protocol.get("smoke") or {}).get("synthetic", {})
        _synthetic_data(synthetic, out / "data")
        # written as {out}/data so that the runs' records do not name where the folder is
        data, resolved_data = "{out}/data", str(out / "data")
    if data is None and protocol.get("data"):
        data = expand_environment(str(protocol["data"]), "data")
    runs = plan_runs(protocol, out, data, smoke)
    data_path = Path(data.replace("{out}", str(out))) if data else None
    chosen = select_runs(runs, only)
    resolved = protocol | {"data": resolved_data or protocol.get("data"), "smoke": smoke}
    if summary:
        write_text_atomic(out / "protocol.yaml", yaml.safe_dump(resolved, sort_keys=False))
        write_environment(out, "experiment")
    failures: list[str] = []
    if launcher is not None:
        pending = _pending_runs(runs, chosen, synthetic, only)
        if pending:
            _check_data(data_path)
        try:
            failures = launch_runs(pending, launcher)
        finally:
            launcher.close()
        chosen = set()  # what ran is in the records now, which the loop below keeps
    records: dict[str, dict[str, Any]] = {}
    for index, run in enumerate(runs, start=1):
        wanted = wanted_record(run, synthetic, records)
        previous = read_record(run)
        changes = record_changes(previous, wanted) if previous else []
        if _is_kept(run, previous, changes):
            logger.info("%s: finished earlier with the same options, kept", run.name)
            run.seconds = float(previous.get("seconds", 0.0))
            records[run.name] = previous
        elif run.name not in chosen:
            if previous and previous.get("finished"):
                reason = "; ".join(changes or ["its result is missing"])
                print(f"{run.name}: left out of the tables: {reason}", flush=True)
            continue
        else:
            _check_data(data_path)  # before _prepare, which clears a run whose data differs
            _check_dependencies(run, records, only)
            resume = _prepare(run, previous, changes, out)
            write_record(run, wanted | {"finished": False, "argv": run.argv})
            argv = [*run.argv, "--resume"] if resume else run.argv
            print(f"[{index}/{len(runs)}] condet {' '.join(argv)}", flush=True)
            start = time.perf_counter()
            _run_command(run, resume)
            run.seconds = time.perf_counter() - start
            if smoke:
                # A finished smoke run is never resumed, and a detector's last.ckpt (weights
                # and optimizer state) is hundreds of MB: over a protocol's runs they would
                # fill a small disk.
                shutil.rmtree(run.folder / "checkpoints", ignore_errors=True)
            records[run.name] = wanted | {
                "finished": True,
                "argv": run.argv,
                "id": uuid.uuid4().hex,
                "seconds": round(run.seconds, 1),
            }
            write_record(run, records[run.name])
        run.metrics = collect_metrics(run)
    if not summary:
        return out
    done = _add_finished_meanwhile(runs, synthetic, records)
    rows = summary_rows(done)
    findings = comparison_sentences(rows, protocol.get("comparisons") or [])
    text = f"# {name}\n\n"
    if findings:
        text += "## What the numbers show\n\n" + "".join(f"- {line}\n" for line in findings)
        text += "\n"
    write_text_atomic(out / "results.md", text + markdown_tables(rows))
    write_text_atomic(out / "results.json", json.dumps(rows, indent=2))
    write_csv(done, out / "results.csv")
    timings = {run.name: round(run.seconds, 1) for run in done}
    write_text_atomic(out / "timings.json", json.dumps(timings, indent=2))
    write_report(out, name, protocol.get("description", ""), done, rows, resolved, findings)
    if failures:
        raise CondetError(f"{len(failures)} run(s) did not finish: " + "; ".join(failures))
    return out


def _check_data(path: Path | None) -> None:
    if path is not None and not path.exists():
        raise CondetError(f"the protocol's data {path} does not exist")


def _check_dependencies(run: Run, available: Any, only: Sequence[str] | None) -> None:
    """Stop unless every run ``run`` uses is in ``available`` (finished, or to be run first)."""
    missing = [needed for needed in run.depends if needed not in available]
    if missing:
        hint = " (add it to --only)" if only else ""
        raise CondetError(f"run {run.name} needs run {missing[0]}, not finished{hint}")


def _pending_runs(
    runs: list[Run],
    chosen: set[str],
    synthetic: dict[str, Any] | None,
    only: Sequence[str] | None,
) -> list[Run]:
    """The chosen runs that are not kept, in plan order: what the loop of
    :func:`run_experiment` would run (a run using one that is run again is run again)."""
    records: dict[str, dict[str, Any]] = {}
    pending: list[Run] = []
    for run in runs:
        previous = read_record(run)
        wanted = wanted_record(run, synthetic, records)
        changes = record_changes(previous, wanted) if previous else []
        if _is_kept(run, previous, changes):
            records[run.name] = previous
        elif run.name in chosen:
            _check_dependencies(run, set(records) | {done.name for done in pending}, only)
            pending.append(run)
    return pending


def default_folder(config: Path, smoke: bool = False) -> Path:
    """``runs/NAME`` (``runs/NAME-smoke``): where protocol ``config`` runs without ``--out``."""
    name = load_protocol(config).get("name", config.stem)
    return Path("runs") / (name + ("-smoke" if smoke else ""))


def _add_finished_meanwhile(
    runs: list[Run], synthetic: dict[str, Any] | None, records: dict[str, dict[str, Any]]
) -> list[Run]:
    """The runs with a result in ``records``, in plan order, with those another process
    finished while this one ran added.

    Two ``--only`` processes on one folder each read the records when they start; without
    reading them again here, the one that ends last would write tables without the runs the
    other finished meanwhile.
    """
    for run in runs:
        if run.name in records:
            continue
        previous = read_record(run)
        wanted = wanted_record(run, synthetic, records)
        changes = record_changes(previous, wanted) if previous else []
        if _is_kept(run, previous, changes):
            run.seconds = float(previous.get("seconds", 0.0))
            run.metrics = collect_metrics(run)
            records[run.name] = previous
    return [run for run in runs if run.name in records]


def _is_kept(run: Run, previous: dict[str, Any] | None, changes: list[str]) -> bool:
    """Whether ``run`` finished with the options the protocol asks for now and kept its result."""
    return bool(previous and previous.get("finished") and not changes and _has_result(run))


def _run_command(run: Run, resume: bool) -> None:
    """Build ``run``'s config from its values (``resume``: from its saved config) and run it."""
    command = get_command(run.command)
    config = command.build_config(run.values | ({"resume": True} if resume else {}))
    try:
        code = command.run(config)
    except CondetError as error:
        raise CondetError(f"run {run.name} failed: {error}; the experiment stops here") from error
    if code != 0:
        raise CondetError(f"run {run.name} failed; the experiment stops here")


def collect_metrics(run: Run) -> dict[str, float]:
    """The headline numbers of a finished run: its command's ``headline`` in its metrics.json."""
    command = get_command(run.command)
    saved = read_metrics(run.folder, command.single_file) or {}
    metrics: dict[str, float] = {}
    for key, label in command.headline:
        value = _lookup(saved, key)
        if isinstance(value, int | float):
            metrics[label] = float(value)
    return metrics


def _lookup(saved: dict[str, Any], key: str) -> Any:
    value: Any = saved
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _has_result(run: Run) -> bool:
    return metrics_path(run.folder, get_command(run.command).single_file).is_file()


def _prepare(run: Run, previous: dict[str, Any] | None, changes: list[str], out: Path) -> bool:
    """Clear what ``run`` left unless it can continue; True when it resumes."""
    exists = run.folder.exists() or record_path(run).exists()
    if previous is None:
        if not exists:
            return False
        if not run.folder.resolve().is_relative_to(out.resolve()):
            raise CondetError(
                f"{run.folder} exists and was not made by an experiment; move it away or "
                f"give run {run.name} another out"
            )
        reason = "its folder holds no record of the options it ran with"
    elif changes:
        reason = "; ".join(changes)
    elif previous.get("finished"):
        reason = "its result is missing"
    elif get_command(run.command).resumable and newest_loadable(run.folder)[0] is not None:
        print(f"{run.name}: interrupted earlier; continuing from its last checkpoint", flush=True)
        return True
    else:
        reason = "interrupted before it saved a checkpoint that loads"
    print(f"{run.name}: {reason}; running it again from the start", flush=True)
    single_file = get_command(run.command).single_file
    if run.folder.is_dir():
        shutil.rmtree(run.folder)
    else:
        run.folder.unlink(missing_ok=True)
    if single_file:
        metrics_path(run.folder, single_file).unlink(missing_ok=True)
        config_path(run.folder, single_file).unlink(missing_ok=True)
    record_path(run).unlink(missing_ok=True)
    return False


def _synthetic_data(settings: dict[str, Any], root: Path) -> None:
    """The embedded synthetic set in ``root``; generate_synthetic keeps one already made alike."""
    generate_synthetic(root, images=settings.get("images", 300), seed=settings.get("seed", 0))
